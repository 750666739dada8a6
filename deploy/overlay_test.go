package deploy

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	networkingv1 "istio.io/api/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// render runs kubectl's kustomize on dir; skipped without kubectl.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found")
	}
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}

// destinationRule decodes an Istio DestinationRule strictly: the envelope
// with Kubernetes' ObjectMeta, the spec with Istio's own type.
func destinationRule(t *testing.T, doc []byte) (metav1.ObjectMeta, *networkingv1.DestinationRule) {
	t.Helper()
	var obj struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            json.RawMessage   `json:"spec"`
	}
	if err := strictYAML(doc, &obj); err != nil {
		t.Fatalf("DestinationRule: %v", err)
	}
	if obj.APIVersion != "networking.istio.io/v1" {
		t.Errorf("DestinationRule apiVersion %s", obj.APIVersion)
	}
	dr := &networkingv1.DestinationRule{}
	if err := protojson.Unmarshal(obj.Spec, dr); err != nil {
		t.Fatalf("istio would reject the DestinationRule: %v", err)
	}
	return obj.Metadata, dr
}

// The mTLS overlay renders, decodes strictly (Istio's DestinationRule with
// Istio's type), gives alsd real TLS flags whose files are on the mounted
// Secret, and has the Envoys present their workload certificates.
func TestMTLSOverlay(t *testing.T) {
	out := render(t, "overlays/mtls")
	var sts *appsv1.StatefulSet
	configMaps := map[string]*corev1.ConfigMap{}
	var drMeta metav1.ObjectMeta
	var dr *networkingv1.DestinationRule
	for i, doc := range documents(t, "overlays/mtls", out) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind == "DestinationRule" {
			drMeta, dr = destinationRule(t, doc)
			continue
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			sts = o
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		}
	}
	if sts == nil || dr == nil {
		t.Fatalf("rendered output lacks the StatefulSet or the DestinationRule")
	}
	c := sts.Spec.Template.Spec.Containers[0]
	checkUses(t, []use{useOf("overlays/mtls StatefulSet/alsd", c, func(name, key string) string {
		if cm := configMaps[name]; cm != nil {
			return cm.Data[key]
		}
		return ""
	})})
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	secrets := map[string]bool{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Name] = true
		}
	}
	for _, f := range []string{"tls-cert", "tls-key", "tls-client-ca"} {
		file, ok := flagValue(c.Args, f)
		if !ok || !secrets[mounts[path.Dir(file)]] {
			t.Errorf("--%s=%s is not on a mounted Secret", f, file)
		}
	}
	if sans, _ := flagValue(c.Args, "allowed-sans"); !strings.HasPrefix(sans, "spiffe://") {
		t.Errorf("--allowed-sans=%q: want the mesh's SPIFFE trust domain", sans)
	}
	if want := "alsd." + drMeta.Namespace + ".svc.cluster.local"; dr.GetHost() != want || drMeta.Namespace != sts.Namespace {
		t.Errorf("DestinationRule %s/%s for host %s, want %s in %s", drMeta.Namespace, drMeta.Name, dr.GetHost(), want, sts.Namespace)
	}
	if mode := dr.GetTrafficPolicy().GetTls().GetMode(); mode != networkingv1.ClientTLSSettings_ISTIO_MUTUAL {
		t.Errorf("tls mode %v: the Envoys must present their workload certificates (ISTIO_MUTUAL)", mode)
	}
}
