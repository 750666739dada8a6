package dashboards

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// Provisioning defaults, overridable in ProvisioningConfig.
const (
	// DefaultPrometheusURL is where the datasource points unless told.
	DefaultPrometheusURL = "http://localhost:9090"
	// DefaultDashboardsPath is where Grafana reads the generated
	// grafana/dashboards directory unless told.
	DefaultDashboardsPath = "/var/lib/grafana/dashboards/meshtel"
	// Folder is the Grafana folder the dashboards land in.
	Folder = "meshtel"
)

// ProvisioningConfig says where Grafana finds Prometheus and the files.
type ProvisioningConfig struct {
	// PrometheusURL is the datasource URL; "" means DefaultPrometheusURL.
	PrometheusURL string
	// DashboardsPath is the directory, as Grafana sees it, holding the
	// generated dashboards; "" means DefaultDashboardsPath.
	DashboardsPath string
}

type datasourceFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []datasource `yaml:"datasources"`
}

type datasource struct {
	Name     string         `yaml:"name"`
	UID      string         `yaml:"uid"`
	Type     string         `yaml:"type"`
	Access   string         `yaml:"access"`
	URL      string         `yaml:"url"`
	Editable bool           `yaml:"editable"`
	JSONData map[string]any `yaml:"jsonData"`
}

type dashboardFile struct {
	APIVersion int        `yaml:"apiVersion"`
	Providers  []provider `yaml:"providers"`
}

type provider struct {
	Name                  string          `yaml:"name"`
	Folder                string          `yaml:"folder"`
	Type                  string          `yaml:"type"`
	DisableDeletion       bool            `yaml:"disableDeletion"`
	AllowUIUpdates        bool            `yaml:"allowUiUpdates"`
	UpdateIntervalSeconds int             `yaml:"updateIntervalSeconds"`
	Options               providerOptions `yaml:"options"`
}

type providerOptions struct {
	Path                      string `yaml:"path"`
	FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
}

// DatasourceProvisioning renders grafana/provisioning/datasources/*.yaml:
// the Prometheus datasource with uid DatasourceUID.
func DatasourceProvisioning(cfg ProvisioningConfig) ([]byte, error) {
	url := cfg.PrometheusURL
	if url == "" {
		url = DefaultPrometheusURL
	}
	return marshal(datasourceFile{APIVersion: 1, Datasources: []datasource{{
		Name: DatasourceName, UID: DatasourceUID, Type: "prometheus", Access: "proxy", URL: url,
		JSONData: map[string]any{"httpMethod": "POST", "timeInterval": "1m"},
	}}})
}

// DashboardProvisioning renders grafana/provisioning/dashboards/*.yaml: a
// file provider for the generated dashboards. UI edits are refused, since
// the next generate would overwrite them.
func DashboardProvisioning(cfg ProvisioningConfig) ([]byte, error) {
	path := cfg.DashboardsPath
	if path == "" {
		path = DefaultDashboardsPath
	}
	return marshal(dashboardFile{APIVersion: 1, Providers: []provider{{
		Name: "meshtel", Folder: Folder, Type: "file", UpdateIntervalSeconds: 60,
		Options: providerOptions{Path: path},
	}}})
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
