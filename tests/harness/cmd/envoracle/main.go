// Command envoracle is the kubelet service-environment-variable oracle.
//
// stdin:  {"cases":[{"namespace":"ns","enableServiceLinks":true,"collisions":true,
//
//	"services":[<v1.Service JSON>, ...]}]}
//
// stdout: {"results":[{"env":[{"name":"X","value":"Y"},...],"collisions":["X",...]}]}
//
// The per-service variables come from the real kubelet code,
// k8s.io/kubernetes/pkg/kubelet/envvars.FromServices.
//
// Service selection is a line-by-line copy of (*Kubelet).getServiceEnvVarMap in
// pkg/kubelet/kubelet_pods.go (k8s.io/kubernetes v1.34.4). That method is
// unexported and needs a *Kubelet; calling it would mean importing the whole
// kubelet package tree (cadvisor, CRI, ...) and poking an unexported field with
// unsafe, so it is replicated here instead, using the real v1helper.IsServiceIPSet.
//
// One deliberate difference: the kubelet ranges over a Go map, so when two
// selected services produce the same variable name with different values the
// kubelet's winner is random. Here the map values are visited in sorted key
// order (deterministic); such names are listed in "collisions" when the case
// sets "collisions": true (or always, with -collisions).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
)

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
	m := map[string]string{}
	for _, e := range envvars.FromServices(selected) {
		m[e.Name] = e.Value
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
