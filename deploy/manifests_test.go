package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const manifestDir = "kubernetes"

// strict decodes Kubernetes objects the way the API server's strict field
// validation does: unknown, duplicate and mis-cased fields are errors, and
// a kind no registered API group has is an error too.
var strict = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// documents splits a multi-document YAML stream, dropping empty ones.
func documents(t *testing.T, name string, data []byte) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufioReader(data))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

// objects decodes every document of a manifest stream strictly.
func objects(t *testing.T, name string, data []byte) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	for i, doc := range documents(t, name, data) {
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s, document %d: %v", name, i+1, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// kustomization is the part of kustomize's Kustomization type that
// kubernetes/kustomization.yaml uses (sigs.k8s.io/kustomize/api/types;
// its module is not among this project's dependencies). Decoding is
// strict, so a field added to the file must be added here first.
type kustomization struct {
	APIVersion         string               `json:"apiVersion"`
	Kind               string               `json:"kind"`
	Namespace          string               `json:"namespace"`
	Labels             []kustomizeLabels    `json:"labels"`
	Resources          []string             `json:"resources"`
	ConfigMapGenerator []configMapGenerator `json:"configMapGenerator"`
	Images             []kustomizeImage     `json:"images"`
}

type kustomizeLabels struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors"`
}

type configMapGenerator struct {
	Name     string   `json:"name"`
	Files    []string `json:"files"`
	Literals []string `json:"literals"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

func loadKustomization(t *testing.T) kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := strictYAML(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	return k
}

// strictYAML decodes YAML into v through JSON, case-sensitively, with
// unknown and duplicate fields as errors (as Kubernetes' decoders do).
func strictYAML(data []byte, v any) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	strictErrs, err := k8sjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// The kustomization lists every manifest of the directory, and only them.
func TestKustomizationListsEveryManifest(t *testing.T) {
	k := loadKustomization(t)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s %s", k.APIVersion, k.Kind)
	}
	generated := map[string]bool{}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			generated[f] = true
		}
	}
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !generated[b] {
			onDisk = append(onDisk, b)
		}
	}
	listed := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(listed, onDisk) {
		t.Errorf("resources %v, manifests on disk %v", listed, onDisk)
	}
	for f := range generated {
		if _, err := os.Stat(filepath.Join(manifestDir, f)); err != nil {
			t.Errorf("configMapGenerator file: %v", err)
		}
	}
}

// manifests decodes every listed manifest strictly, in kustomization order.
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	for _, f := range loadKustomization(t).Resources {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, objects(t, f, data)...)
	}
	return objs
}

func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, o := range manifests(t) {
		kinds[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	for _, want := range []string{"Namespace", "ServiceAccount", "StatefulSet", "Deployment", "Service",
		"PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} {
		if kinds[want] == 0 {
			t.Errorf("no %s among the manifests (%v)", want, kinds)
		}
	}
}

// The decoder must fail on what the API server would refuse, or the test
// above proves nothing.
func TestStrictDecoderRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n",
		"mis-cased":      "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n",
		"duplicate":      "apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"unknown kind":   "apiVersion: v1\nkind: Servce\nmetadata: {name: x}\n",
		"operator field": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpointz: []}\n",
	} {
		if _, _, err := strict.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// kubectl's own kustomize renders the directory, and every object it
// produces decodes strictly: generated ConfigMaps, namespaces and labels
// included. Skipped without kubectl.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found; the manifests are still decoded file by file")
	}
	out, err := exec.Command(kubectl, "kustomize", manifestDir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	objs := objects(t, "kubectl kustomize", out)
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	for _, o := range objs {
		var spec *corev1.PodSpec
		switch w := o.(type) {
		case *appsv1.StatefulSet:
			spec = &w.Spec.Template.Spec
		case *appsv1.Deployment:
			spec = &w.Spec.Template.Spec
		default:
			continue
		}
		// Every ConfigMap key a pod reads exists after kustomize renamed
		// the generated ConfigMaps.
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
					cm := configMaps[ref.ConfigMapKeyRef.Name]
					if cm == nil || cm.Data[ref.ConfigMapKeyRef.Key] == "" {
						t.Errorf("%s: env %s reads %s/%s, which the rendered output lacks", c.Name, e.Name, ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key)
					}
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("volume %s names ConfigMap %s, which the rendered output lacks", v.Name, v.ConfigMap.Name)
			}
		}
	}
	if !strings.Contains(string(out), "namespace: meshtel") {
		t.Error("rendered objects are not in namespace meshtel")
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
