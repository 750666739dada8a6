package deploy

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshtel/meshtel/artifacts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

// drainBound is SPEC §1's bound: on SIGTERM alsd exits within 10 s.
const drainBound = 10

// find returns the objects of type T among the manifests.
func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func one[T runtime.Object](t *testing.T, objs []runtime.Object, name func(T) string, want string) T {
	t.Helper()
	for _, o := range find[T](objs) {
		if name(o) == want {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, want)
	return zero
}

func statefulSet(t *testing.T, objs []runtime.Object) *appsv1.StatefulSet {
	return one(t, objs, func(s *appsv1.StatefulSet) string { return s.Name }, "alsd")
}

func aggregator(t *testing.T, objs []runtime.Object) *appsv1.Deployment {
	return one(t, objs, func(d *appsv1.Deployment) string { return d.Name }, "alsd-aggregate")
}

func service(t *testing.T, objs []runtime.Object, name string) *corev1.Service {
	return one(t, objs, func(s *corev1.Service) string { return s.Name }, name)
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// listenPort is the port of a --…-addr flag's host:port.
func listenPort(t *testing.T, args []string, flag string) int32 {
	t.Helper()
	addr, ok := flagValue(args, flag)
	if !ok {
		t.Fatalf("no --%s in %v", flag, args)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--%s=%s: %v", flag, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("--%s=%s: %v", flag, addr, err)
	}
	return int32(p)
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

// checkProbes: readiness on /readyz and liveness on /healthz, on the port
// alsd's --admin-addr listens on, beyond loopback.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	admin := listenPort(t, c.Args, "admin-addr")
	if addr, _ := flagValue(c.Args, "admin-addr"); strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "localhost") {
		t.Errorf("%s: --admin-addr=%s: kubelet and Prometheus cannot reach loopback", c.Name, addr)
	}
	if got := containerPort(t, c, "admin"); got != admin {
		t.Errorf("%s: admin containerPort %d, --admin-addr port %d", c.Name, got, admin)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP probe for %s", c.Name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("admin") {
			t.Errorf("%s: probe %s on %v, want %s on admin", c.Name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path)
		}
	}
}

func checkHardened(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("pod may run as root")
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: root filesystem writable or privilege escalation allowed", c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no CPU or memory request", c.Name)
		}
	}
}

func TestIngesterStatefulSet(t *testing.T) {
	objs := manifests(t)
	sts := statefulSet(t, objs)
	spec := sts.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	checkProbes(t, c)
	checkHardened(t, spec)
	if v, _ := flagValue(c.Args, "compute"); v != "false" {
		t.Errorf("ingesters compute SLIs too (--compute=%q) while aggregators run: counts would double", v)
	}
	// Grace period: the preStop pause plus alsd's drain, with room.
	var preStop int64
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
		preStop = h.PreStop.Sleep.Seconds
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= preStop+drainBound {
		t.Errorf("terminationGracePeriodSeconds %v does not exceed preStop %ds + drain %ds", g, preStop, drainBound)
	}
	// --state-dir is on the volume claimed per replica.
	stateDir, _ := flagValue(c.Args, "state-dir")
	var claim string
	for _, m := range c.VolumeMounts {
		if m.MountPath == stateDir {
			claim = m.Name
		}
	}
	if claim == "" || !slices.ContainsFunc(sts.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == claim }) {
		t.Errorf("--state-dir=%s is not on a volumeClaimTemplate (mounts %v)", stateDir, c.VolumeMounts)
	}
	if got := containerPort(t, c, "als"); got != listenPort(t, c.Args, "als-addr") {
		t.Errorf("als containerPort %d, --als-addr %v", got, c.Args)
	}
	if !labels.SelectorFromSet(sts.Spec.Selector.MatchLabels).Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Error("the StatefulSet's selector does not match its pods")
	}
	if service(t, objs, sts.Spec.ServiceName).Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %s is not a headless Service", sts.Spec.ServiceName)
	}
}

func TestAggregatorDeployment(t *testing.T) {
	d := aggregator(t, manifests(t))
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "aggregate" {
		t.Fatalf("aggregator args %v: want `alsd aggregate`", c.Args)
	}
	checkProbes(t, c)
	checkHardened(t, spec)
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= drainBound {
		t.Errorf("terminationGracePeriodSeconds %v", g)
	}
}

// The Service speaks gRPC on 18000 and 4317 to the ALS listener (which
// also serves OTLP, SPEC §7) and exposes the admin port for scrapes.
func TestIngesterService(t *testing.T) {
	objs := manifests(t)
	sts := statefulSet(t, objs)
	svc := service(t, objs, "alsd")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Fatal("Service alsd does not select the ingesters")
	}
	want := map[int32]struct {
		target, protocol string
	}{18000: {"als", "grpc"}, 4317: {"als", "grpc"}, 9102: {"admin", "http"}}
	for _, p := range svc.Spec.Ports {
		w, ok := want[p.Port]
		if !ok {
			t.Errorf("unexpected port %d", p.Port)
			continue
		}
		delete(want, p.Port)
		if p.TargetPort != intstr.FromString(w.target) || p.AppProtocol == nil || *p.AppProtocol != w.protocol {
			t.Errorf("port %d: target %v, appProtocol %v; want %s, %s", p.Port, p.TargetPort, p.AppProtocol, w.target, w.protocol)
		}
	}
	if len(want) > 0 {
		t.Errorf("ports missing: %v", want)
	}
}

// Every workload has a disruption budget that selects its pods and lets
// at most one go at a time.
func TestDisruptionBudgets(t *testing.T) {
	objs := manifests(t)
	pdbs := find[*policyv1.PodDisruptionBudget](objs)
	for name, podLabels := range map[string]map[string]string{
		"alsd":           statefulSet(t, objs).Spec.Template.Labels,
		"alsd-aggregate": aggregator(t, objs).Spec.Template.Labels,
	} {
		if !slices.ContainsFunc(pdbs, func(p *policyv1.PodDisruptionBudget) bool {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			return err == nil && sel.Matches(labels.Set(podLabels)) && p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() == 1
		}) {
			t.Errorf("no PodDisruptionBudget with maxUnavailable 1 for %s", name)
		}
	}
}

// Only Envoy pods may reach the log port; monitoring only the admin port.
func TestNetworkPolicy(t *testing.T) {
	objs := manifests(t)
	pods := labels.Set(statefulSet(t, objs).Spec.Template.Labels)
	np := one(t, objs, func(n *networkingv1.NetworkPolicy) string { return n.Name }, "alsd")
	if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil || !sel.Matches(pods) {
		t.Fatal("NetworkPolicy alsd does not select the ingesters")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	envoy := labels.Set{"security.istio.io/tlsMode": "istio"}
	other := labels.Set{"app": "web"}
	reachesALS := func(podLabels labels.Set) bool {
		for _, rule := range np.Spec.Ingress {
			if !slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port != nil && *p.Port == intstr.FromString("als")
			}) {
				continue
			}
			for _, peer := range rule.From {
				if peer.PodSelector == nil {
					continue
				}
				if sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector); err == nil && sel.Matches(podLabels) {
					return true
				}
			}
		}
		return false
	}
	if !reachesALS(envoy) {
		t.Error("Istio sidecars cannot reach the ALS port")
	}
	if reachesALS(other) {
		t.Error("a pod without an Envoy can reach the ALS port")
	}
	for _, rule := range np.Spec.Ingress {
		for _, peer := range rule.From {
			if peer.IPBlock != nil || (peer.PodSelector == nil && peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels) == 0) {
				t.Errorf("rule admits every pod of some namespaces: %+v", peer)
			}
		}
	}
}

// The ServiceMonitor scrapes both roles' admin ports as job alsd.
func TestServiceMonitor(t *testing.T) {
	objs := manifests(t)
	sm := one(t, objs, func(s *monitoringv1.ServiceMonitor) string { return s.Name }, "alsd")
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alsd", "alsd-aggregate"} {
		svc := service(t, objs, name)
		if !sel.Matches(labels.Set(svc.Labels)) {
			t.Errorf("ServiceMonitor does not select Service %s", name)
		}
		if svc.Labels[sm.Spec.JobLabel] != "alsd" {
			t.Errorf("Service %s: job label %q=%q, want alsd (MeshTelemetryDown watches up{job=\"alsd\"})", name, sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
		}
		for _, ep := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("Service %s has no port %q to scrape", name, ep.Port)
			}
		}
	}
	if sel.Matches(labels.Set(service(t, objs, "alsd-headless").Labels)) {
		t.Error("the headless Service is scraped too: every ingester twice")
	}
}

// The shipped catalog is the example, and the PrometheusRule is exactly
// what dashgen generates from it.
func TestCatalogAndRulesCurrent(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join(manifestDir, "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, examples.Mesh) {
		t.Error("kubernetes/mesh.yaml differs from examples/mesh.yaml: cp examples/mesh.yaml deploy/kubernetes/")
	}
	cat, err := catalog.Parse("kubernetes/mesh.yaml", shipped)
	if err != nil {
		t.Fatal(err)
	}
	files, err := artifacts.Build(cat, artifacts.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rule, err := os.ReadFile(filepath.Join(manifestDir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == artifacts.PrometheusRulePath {
			if !bytes.Equal(f.Data, rule) {
				t.Errorf("kubernetes/prometheusrule.yaml is stale: dashgen generate --catalog deploy/kubernetes/mesh.yaml --out DIR, then copy DIR/%s", f.Path)
			}
			return
		}
	}
	t.Fatalf("dashgen generated no %s", artifacts.PrometheusRulePath)
}
