package main

// Checks the copied selection (selectServices, used for "collisions" and
// -impl=replica) against the real kubelet getServiceEnvVarMap. Only inputs
// without collisions are compared: for those the kubelet's result does not
// depend on Go map order.

import (
	"fmt"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, ip string, ports ...int32) *v1.Service {
	s := &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{ClusterIP: ip}}
	for i, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: p, Protocol: v1.ProtocolTCP})
	}
	return s
}

func TestReplicaMatchesKubelet(t *testing.T) {
	services := []*v1.Service{
		svc("default", "kubernetes", "10.96.0.1", 443),
		svc("default", "other-default", "10.96.0.2", 80),
		svc("ns", "kubernetes", "10.96.0.3", 444), // shadows default/kubernetes when links are on
		svc("ns", "web", "10.96.0.4", 80, 8080),
		svc("ns", "headless", "None", 80),
		svc("ns", "empty-ip", "", 80),
		svc("ns", "v6", "fd00:10:96::5", 53),
		svc("other", "web2", "10.96.0.6", 80),
	}
	for _, ns := range []string{"ns", "default", "other", "none"} {
		for _, links := range []bool{true, false} {
			want, err := kubeletEnv(ns, links, services)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatalf("ns=%s links=%v: kubelet gave no variables", ns, links)
			}
			*impl = "replica"
			got := run(ns, links, true, services)
			*impl = "kubelet"
			if len(got.Collisions) != 0 {
				t.Fatalf("unexpected collisions %v", got.Collisions)
			}
			gm := map[string]string{}
			for _, e := range got.Env {
				gm[e.Name] = e.Value
			}
			if !reflect.DeepEqual(gm, want) {
				t.Errorf("ns=%s links=%v:\n got %v\nwant %v", ns, links, gm, want)
			}
		}
	}
}
