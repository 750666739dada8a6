package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/meshtel/meshtel/envoyconfig"
)

// The Envoy Gateway types below are the part of gateway.envoyproxy.io/v1alpha1
// (EnvoyProxy) and gateway.networking.k8s.io/v1beta1 (ReferenceGrant) the
// snippets use, with the projects' JSON names. Their Go modules are not
// dependencies of this project (Envoy Gateway's brings a controller and
// an Envoy build's worth of modules); decoding is strict, so a field the
// snippets gain must be added here, checked against Envoy Gateway's API
// reference.
type envoyProxy struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Telemetry struct {
			AccessLog struct {
				Settings []accessLogSetting `json:"settings"`
			} `json:"accessLog"`
		} `json:"telemetry"`
	} `json:"spec"`
}

type accessLogSetting struct {
	Format  *accessLogFormat `json:"format,omitempty"`
	Matches []string         `json:"matches,omitempty"`
	Sinks   []accessLogSink  `json:"sinks"`
	Type    *string          `json:"type,omitempty"`
}

type accessLogFormat struct {
	Type string            `json:"type"`
	Text *string           `json:"text,omitempty"`
	JSON map[string]string `json:"json,omitempty"`
}

type accessLogSink struct {
	Type          string    `json:"type"`
	ALS           *alsSink  `json:"als,omitempty"`
	OpenTelemetry *otelSink `json:"openTelemetry,omitempty"`
}

type backendRef struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace,omitempty"`
	Port      *int32  `json:"port,omitempty"`
}

type otelSink struct {
	BackendRefs []backendRef      `json:"backendRefs"`
	Resources   map[string]string `json:"resources,omitempty"`
}

type alsSink struct {
	BackendRefs []backendRef `json:"backendRefs"`
	LogName     *string      `json:"logName,omitempty"`
	Type        string       `json:"type"`
	HTTP        *struct {
		RequestHeaders   []string `json:"requestHeaders,omitempty"`
		ResponseHeaders  []string `json:"responseHeaders,omitempty"`
		ResponseTrailers []string `json:"responseTrailers,omitempty"`
	} `json:"http,omitempty"`
}

type referenceGrant struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		From []struct {
			Group     string `json:"group"`
			Kind      string `json:"kind"`
			Namespace string `json:"namespace"`
		} `json:"from"`
		To []struct {
			Group string  `json:"group"`
			Kind  string  `json:"kind"`
			Name  *string `json:"name,omitempty"`
		} `json:"to"`
	} `json:"spec"`
}

// gatewayFile decodes one snippet file: an EnvoyProxy, and a
// ReferenceGrant when there is one.
func gatewayFile(t *testing.T, name string) (envoyProxy, *referenceGrant) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("envoy-gateway", name))
	if err != nil {
		t.Fatal(err)
	}
	var ep envoyProxy
	var rg *referenceGrant
	for i, doc := range documents(t, name, data) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s, document %d: %v", name, i+1, err)
		}
		var err error
		switch head.Kind {
		case "EnvoyProxy":
			err = strictYAML(doc, &ep)
		case "ReferenceGrant":
			rg = &referenceGrant{}
			err = strictYAML(doc, rg)
		default:
			t.Fatalf("%s, document %d: unexpected kind %q", name, i+1, head.Kind)
		}
		if err != nil {
			t.Fatalf("%s, document %d (%s): %v", name, i+1, head.Kind, err)
		}
	}
	if ep.APIVersion != "gateway.envoyproxy.io/v1alpha1" || ep.Kind != "EnvoyProxy" {
		t.Fatalf("%s: %s %s", name, ep.APIVersion, ep.Kind)
	}
	return ep, rg
}

// onlySink returns the snippet's one sink of the given type.
func onlySink(t *testing.T, ep envoyProxy, typ string) (accessLogSetting, accessLogSink) {
	t.Helper()
	settings := ep.Spec.Telemetry.AccessLog.Settings
	if len(settings) != 1 || len(settings[0].Sinks) != 1 || settings[0].Sinks[0].Type != typ {
		t.Fatalf("want one setting with one %s sink: %+v", typ, settings)
	}
	return settings[0], settings[0].Sinks[0]
}

// checkBackend: the sink reaches a port of the alsd Service that leads to
// alsd's log listener.
func checkBackend(t *testing.T, refs []backendRef, port int32) {
	t.Helper()
	svc := service(t, manifests(t), "alsd")
	if len(refs) != 1 || refs[0].Name != svc.Name || refs[0].Namespace == nil || *refs[0].Namespace != loadKustomization(t).Namespace ||
		refs[0].Port == nil || *refs[0].Port != port {
		t.Fatalf("backendRefs %+v: want Service %s in %s, port %d", refs, svc.Name, loadKustomization(t).Namespace, port)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port && p.TargetPort == intstr.FromString("als") }) {
		t.Errorf("Service alsd has no port %d to the ALS listener", port)
	}
}

var catalogName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func TestEnvoyGatewayOTel(t *testing.T) {
	ep, rg := gatewayFile(t, "envoyproxy-otel.yaml")
	setting, sink := onlySink(t, ep, "OpenTelemetry")
	checkBackend(t, sink.OpenTelemetry.BackendRefs, 4317)
	// Envoy Gateway makes the JSON format the log records' attributes:
	// exactly meshtel's vocabulary, as Istio's provider has it.
	if setting.Format == nil || setting.Format.Type != "JSON" {
		t.Fatalf("format %+v: want JSON attributes", setting.Format)
	}
	want := envoyconfig.OTelAttributes()
	for k, v := range want {
		if setting.Format.JSON[k] != v {
			t.Errorf("attribute %s = %q, want %q (envoyconfig.OTelAttributes)", k, setting.Format.JSON[k], v)
		}
	}
	for k := range setting.Format.JSON {
		if _, ok := want[k]; !ok {
			t.Errorf("attribute %s is not in envoyconfig.OTelAttributes", k)
		}
	}
	if !catalogName.MatchString(sink.OpenTelemetry.Resources["cluster_name"]) {
		t.Errorf("resources.cluster_name %q: want a catalog service name", sink.OpenTelemetry.Resources["cluster_name"])
	}
	if rg == nil {
		t.Fatal("no ReferenceGrant for the cross-namespace backendRef")
	}
	ref := sink.OpenTelemetry.BackendRefs[0]
	if rg.Metadata.Namespace != *ref.Namespace || len(rg.Spec.From) != 1 || rg.Spec.From[0].Kind != "EnvoyProxy" ||
		rg.Spec.From[0].Group != "gateway.envoyproxy.io" || rg.Spec.From[0].Namespace != ep.Metadata.Namespace ||
		len(rg.Spec.To) != 1 || rg.Spec.To[0].Kind != "Service" || rg.Spec.To[0].Name == nil || *rg.Spec.To[0].Name != ref.Name {
		t.Errorf("ReferenceGrant does not let EnvoyProxy %s/%s use Service %s/%s: %+v", ep.Metadata.Namespace, ep.Metadata.Name, *ref.Namespace, ref.Name, rg.Spec)
	}
}

// The snippet types reject what Envoy Gateway's API server would.
func TestEnvoyGatewayTypesStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nspec: {telemetry: {accesLog: {}}}\n",
		"mis-cased":     "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nspec: {telemetry: {accesslog: {}}}\n",
		"sink field":    "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyProxy\nspec: {telemetry: {accessLog: {settings: [{sinks: [{type: OpenTelemetry, openTelemetry: {backendRef: {}}}]}]}}}\n",
	} {
		if err := strictYAML([]byte(doc), &envoyProxy{}); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestEnvoyGatewayALS(t *testing.T) {
	ep, _ := gatewayFile(t, "envoyproxy-als.yaml")
	_, sink := onlySink(t, ep, "ALS")
	als := sink.ALS
	checkBackend(t, als.BackendRefs, 18000)
	if als.Type != "HTTP" || als.HTTP == nil {
		t.Fatalf("ALS sink type %q: want HTTP with headers", als.Type)
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"requestHeaders", als.HTTP.RequestHeaders, envoyconfig.RequestHeaders},
		{"responseHeaders", als.HTTP.ResponseHeaders, envoyconfig.ResponseHeaders},
		{"responseTrailers", als.HTTP.ResponseTrailers, envoyconfig.ResponseTrailers},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s %v, want %v (as the generated Envoy config)", c.what, c.got, c.want)
		}
	}
}
