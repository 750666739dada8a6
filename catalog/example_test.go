package catalog_test

import (
	"errors"
	"fmt"

	"github.com/meshtel/meshtel/catalog"
)

func ExampleParse() {
	_, err := catalog.Parse("mesh.yaml", []byte(`
teams:
  web: {receiver: web-oncall}
services:
  - http_service: my_website
    prot: 8080
    team: wbe
  - cluster: some_service
    port: 9000
    slos:
      availability: {objective: 100}
`))
	var errs catalog.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Println(e)
		}
	}
	// Output:
	// mesh.yaml:6:5: unknown key "prot" in service "my_website"; did you mean "port"?
	// mesh.yaml:7:11: team "wbe" of service "my_website" is not defined under teams; did you mean "web"?
	// mesh.yaml:11:33: objective 100 of availability SLO of service "some_service" is outside (0, 100)
}

func ExampleCatalog_SLOsFor() {
	c, err := catalog.Parse("mesh.yaml", []byte(`
defaults:
  slos:
    latency: {objective: 99, threshold: 500ms}
services:
  - http_service: checkout
    port: 8081
    aliases: [checkout.shop]
    slos:
      availability: {objective: 99.95}
      latency: {threshold: 300ms}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s := c.SLOsFor("checkout.shop")
	fmt.Println(s.Availability.Text, s.Latency.Text, s.Latency.ThresholdText)
	d := c.SLOsFor("not-in-the-catalog")
	fmt.Println(d.Availability.Text, d.Latency.Text, d.Latency.ThresholdText)
	// Output:
	// 99.95 99 300ms
	// 99.9 99 500ms
}
