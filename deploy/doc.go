// Package deploy holds what runs meshtel in a cluster, and the tests that
// keep it honest: the Kubernetes manifests (kubernetes/, a kustomization)
// and the Envoy Gateway telemetry snippets (envoy-gateway/). The
// repository's Dockerfile and scripts/build-static are checked here too.
//
// It has no code. Its tests decode every manifest with the Kubernetes,
// Prometheus Operator and Istio Go types, unknown fields rejected; check
// what the manifests promise (probes, drain time, volumes, ports, who may
// reach the log port); cross-check every alsd flag and ALSD_* variable
// they use against the built alsd's own flag sets; and, with
// MESHTEL_STATIC=1, build the static binaries as the image does and run
// them where no libc exists.
package deploy
