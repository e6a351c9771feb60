// Command envoracle is the kubelet service-environment-variable oracle.
//
// stdin:  {"cases":[{"namespace":"ns","enableServiceLinks":true,"collisions":true,
//
//	"services":[<v1.Service JSON>, ...]}]}
//
// stdout: {"results":[{"env":[{"name":"X","value":"Y"},...],"collisions":["X",...]}]}
//
// "env" comes from the REAL kubelet code: the unexported
// (*kubelet.Kubelet).getServiceEnvVarMap of k8s.io/kubernetes/pkg/kubelet
// (kubelet_pods.go, v1.34.4), reached with go:linkname and run on a zero
// Kubelet whose serviceLister field is set (reflect+unsafe) to a lister over the
// case's services. It selects the services (IsServiceIPSet, default/kubernetes
// insert-if-absent, own namespace only with enableServiceLinks) and calls
// envvars.FromServices. Nothing else of the Kubelet is touched.
//
// "collisions" (when the case sets "collisions": true, or with -collisions):
// names that two selected services give different values. The kubelet visits
// its selection through a Go map, so for those names its "env" value is random
// run to run. The selection for this is a line-by-line copy of the kubelet's
// loop (selectServices below, using the real v1helper.IsServiceIPSet); with
// -impl=replica the copy also produces "env" (services visited in sorted name
// order, so deterministic). kubelet_test.go checks copy == real.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/kubernetes/pkg/kubelet"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
)

// The kubelet's own selection + FromServices (linkname.s makes a bodiless
// declaration legal).
//
//go:linkname getServiceEnvVarMap k8s.io/kubernetes/pkg/kubelet.(*Kubelet).getServiceEnvVarMap
func getServiceEnvVarMap(kl *kubelet.Kubelet, ns string, enableServiceLinks bool) (map[string]string, error)

// kubeletEnv runs the real getServiceEnvVarMap over services.
func kubeletEnv(ns string, enableServiceLinks bool, services []*v1.Service) (map[string]string, error) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range services {
		if err := idx.Add(s); err != nil {
			return nil, err
		}
	}
	kl := &kubelet.Kubelet{}
	f := reflect.ValueOf(kl).Elem().FieldByName("serviceLister")
	if !f.IsValid() {
		return nil, fmt.Errorf("kubelet.Kubelet has no serviceLister field (k8s version changed?)")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(corelisters.NewServiceLister(idx)))
	return getServiceEnvVarMap(kl, ns, enableServiceLinks)
}

var impl = flag.String("impl", "kubelet", `"kubelet": env from the real getServiceEnvVarMap; "replica": from the copied selection`)

type input struct {
	Cases []struct {
		Namespace          string        `json:"namespace"`
		EnableServiceLinks bool          `json:"enableServiceLinks"`
		Collisions         bool          `json:"collisions,omitempty"`
		Services           []*v1.Service `json:"services"`
	} `json:"cases"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type result struct {
	Env        []envVar `json:"env"`
	Collisions []string `json:"collisions,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// masterServices as in pkg/kubelet/kubelet_pods.go.
var masterServices = map[string]bool{"kubernetes": true}

// selectServices mirrors the selection loop of getServiceEnvVarMap.
func selectServices(ns string, enableServiceLinks bool, services []*v1.Service) []*v1.Service {
	serviceMap := make(map[string]*v1.Service)
	for _, service := range services {
		// ignore services where ClusterIP is "None" or empty
		if !v1helper.IsServiceIPSet(service) {
			continue
		}
		serviceName := service.Name
		if service.Namespace == metav1.NamespaceDefault && masterServices[serviceName] {
			if _, exists := serviceMap[serviceName]; !exists {
				serviceMap[serviceName] = service
			}
		} else if service.Namespace == ns && enableServiceLinks {
			serviceMap[serviceName] = service
		}
	}
	keys := make([]string, 0, len(serviceMap))
	for k := range serviceMap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*v1.Service, 0, len(keys))
	for _, k := range keys {
		out = append(out, serviceMap[k])
	}
	return out
}

func run(ns string, links, wantCollisions bool, services []*v1.Service) (res result) {
	defer func() {
		// FromServices indexes Spec.Ports[0]; a service with a ClusterIP and no
		// ports panics in the kubelet too.
		if r := recover(); r != nil {
			res = result{Env: []envVar{}, Error: fmt.Sprint("panic: ", r)}
		}
	}()
	selected := selectServices(ns, links, services)
	var m map[string]string
	if *impl == "replica" {
		m = map[string]string{}
		for _, e := range envvars.FromServices(selected) {
			m[e.Name] = e.Value
		}
	} else {
		var err error
		if m, err = kubeletEnv(ns, links, services); err != nil {
			return result{Env: []envVar{}, Error: err.Error()}
		}
	}
	res.Env = make([]envVar, 0, len(m))
	for k, v := range m {
		res.Env = append(res.Env, envVar{k, v})
	}
	sort.Slice(res.Env, func(i, j int) bool { return res.Env[i].Name < res.Env[j].Name })

	if wantCollisions {
		// name -> distinct values, one FromServices call per selected service
		values := map[string]map[string]bool{}
		for _, svc := range selected {
			for _, e := range envvars.FromServices([]*v1.Service{svc}) {
				if values[e.Name] == nil {
					values[e.Name] = map[string]bool{}
				}
				values[e.Name][e.Value] = true
			}
		}
		for k, vs := range values {
			if len(vs) > 1 {
				res.Collisions = append(res.Collisions, k)
			}
		}
		sort.Strings(res.Collisions)
	}
	return res
}

func main() {
	all := flag.Bool("collisions", false, "report collisions for every case")
	flag.Parse()
	var in input
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "envoracle: bad input:", err)
		os.Exit(2)
	}
	out := struct {
		Results []result `json:"results"`
	}{Results: []result{}}
	for _, c := range in.Cases {
		out.Results = append(out.Results, run(c.Namespace, c.EnableServiceLinks, *all || c.Collisions, c.Services))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "envoracle:", err)
		os.Exit(1)
	}
}
