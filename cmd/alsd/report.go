package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/meshtel/meshtel/sli"
)

// runReport is `alsd report cookies|slo`: fetch the JSON of one or more
// running alsd instances, merge it, and render it.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || isFlag(args[0]) {
		return usageError{errors.New("report needs a subject: alsd report cookies|slo [flags]")}
	}
	subject := args[0]
	fs := flag.NewFlagSet("alsd report "+subject, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var admins listFlag
	fs.Var(&admins, "admin", "comma-separated admin URLs of running alsd instances (default http://127.0.0.1:9102)")
	format := fs.String("format", "md", "md or json")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if len(admins) == 0 {
		admins = listFlag{"http://127.0.0.1:9102"}
	}
	switch subject {
	case "slo":
		var reports []sli.Report
		for _, a := range admins {
			var r sli.Report
			if err := fetchJSON(ctx, a, "/api/slo", &r); err != nil {
				return err
			}
			reports = append(reports, r)
		}
		if err := sli.WriteReport(stdout, sli.MergeReports(reports...), *format); err != nil {
			return usageError{err}
		}
		return nil
	}
	return usageError{fmt.Errorf("unknown report %q (want cookies or slo)", subject)}
}

func fetchJSON(ctx context.Context, admin, path string, v any) error {
	url := strings.TrimSuffix(admin, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageError{fmt.Errorf("--admin %q: %w", admin, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetch %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}
