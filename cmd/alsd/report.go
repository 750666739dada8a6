package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/sli"
)

// runReport is `alsd report cookies|slo|dependencies`: render the SLO,
// cookie or dependency report of one or more running alsd instances
// (merged), of a state directory, or (cookies --diff) the difference
// between two saved JSON reports; slo --month renders a calendar month day
// by day.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	subject := ""
	if len(args) > 0 && !isFlag(args[0]) {
		subject, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("alsd report "+subject, flag.ContinueOnError)
	fs.SetOutput(stdout)
	withHelp(fs, reportHelp)
	var admins listFlag
	fs.Var(&admins, "admin", "admin `URLs` of running alsd or alsd aggregate instances, comma-separated, answers merged (without --state-dir: "+defaultAdminURL+")")
	stateDir := fs.String("state-dir", "", "read the checkpoints in a stopped alsd's --state-dir `directory` instead of asking a running one")
	catalogPath := fs.String("catalog", "", "with --state-dir: the catalog `file` the state was computed with")
	format := fs.String("format", "md", "output `format`: md or json; cookies and slo --month also csv, dependencies also dot (Graphviz)")
	month := fs.String("month", "", "slo only: report the calendar `month` YYYY-MM (UTC) day by day")
	diff := fs.Bool("diff", false, "cookies only: list cookies added, removed and changed between two saved JSON reports: --diff OLD.json NEW.json")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch subject {
	case "slo", "cookies", "dependencies":
	case "":
		return usageError{commandLineError{errors.New("report needs a subject: alsd report cookies|slo|dependencies [flags]")}}
	default:
		return usageError{commandLineError{fmt.Errorf("unknown report %q (want cookies, slo or dependencies)", subject)}}
	}
	if *diff {
		if subject != "cookies" || fs.NArg() != 2 {
			return usageError{errors.New("--diff takes two saved cookie reports: alsd report cookies --diff OLD.json NEW.json")}
		}
		return diffCookies(fs.Arg(0), fs.Arg(1), *format, stdout)
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *stateDir != "" && len(admins) > 0 {
		return usageError{errors.New("--state-dir and --admin exclude each other")}
	}
	if *month != "" && subject != "slo" {
		return usageError{errors.New("--month is for alsd report slo")}
	}
	cat, err := loadCatalog(*catalogPath, false)
	if err != nil {
		return err
	}
	if len(admins) == 0 && *stateDir == "" {
		admins = listFlag{defaultAdminURL}
	}
	// Problems with the state (a corrupt checkpoint) are reported, not fatal.
	src := reportSource{admins: admins, stateDir: *stateDir, cat: cat, log: slog.New(slog.NewTextHandler(stderr, nil))}
	switch {
	case *month != "":
		err = src.writeMonth(ctx, *month, *format, stdout)
	case subject == "slo":
		var r sli.Report
		if r, err = src.slo(ctx); err == nil {
			err = sli.WriteReport(stdout, r, *format)
		}
	case subject == "dependencies":
		var r edges.Report
		if r, err = src.dependencies(ctx); err == nil {
			err = edges.WriteReport(stdout, r, *format)
		}
	default:
		var r cookies.Report
		if r, err = src.cookies(ctx); err == nil {
			err = cookies.WriteReport(stdout, r, *format)
		}
	}
	if err != nil && strings.Contains(err.Error(), "unknown report format") {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	return err
}

// reportSource is where a report's data comes from: running instances
// (admins, their answers merged) or a stopped alsd's state directory.
type reportSource struct {
	admins   []string
	stateDir string
	cat      *catalog.Catalog
	log      *slog.Logger
}

func (s reportSource) slo(ctx context.Context) (sli.Report, error) {
	if s.stateDir == "" {
		return fetchMerged(ctx, s.admins, "/api/slo", sli.MergeReports)
	}
	t, err := sli.New(sli.Config{Catalog: s.cat, StateDir: s.stateDir, Logger: s.log})
	if err != nil {
		return sli.Report{}, fmt.Errorf("read %s: %w", s.stateDir, err)
	}
	return t.Snapshot(), nil
}

// writeMonth renders the monthly report (SPEC §9) of month, YYYY-MM.
func (s reportSource) writeMonth(ctx context.Context, month, format string, w io.Writer) error {
	m, err := sli.ParseMonth(month)
	if err != nil {
		return usageError{fmt.Errorf("--month: %w", err)}
	}
	var r sli.MonthReport
	if s.stateDir == "" {
		reports := make([]sli.MonthReport, len(s.admins))
		for i, a := range s.admins {
			if err := fetchJSON(ctx, a, "/api/slo?format=json&month="+m.Format("2006-01"), &reports[i]); err != nil {
				return err
			}
		}
		if r, err = sli.MergeMonthReports(reports...); err != nil {
			return err
		}
	} else {
		t, err := sli.New(sli.Config{Catalog: s.cat, StateDir: s.stateDir, Logger: s.log})
		if err != nil {
			return fmt.Errorf("read %s: %w", s.stateDir, err)
		}
		r = t.Month(m)
	}
	return sli.WriteMonthReport(w, r, format)
}

func (s reportSource) cookies(ctx context.Context) (cookies.Report, error) {
	if s.stateDir == "" {
		return fetchMerged(ctx, s.admins, "/api/cookies", cookies.MergeReports)
	}
	inv, err := cookies.New(cookies.Config{Catalog: s.cat, StateDir: s.stateDir, Logger: s.log})
	if err != nil {
		return cookies.Report{}, fmt.Errorf("read %s: %w", s.stateDir, err)
	}
	return inv.Snapshot(), nil
}

func (s reportSource) dependencies(ctx context.Context) (edges.Report, error) {
	if s.stateDir == "" {
		return fetchMerged(ctx, s.admins, "/api/dependencies", edges.MergeReports)
	}
	t, err := edges.New(edges.Config{Catalog: s.cat, StateDir: s.stateDir, Logger: s.log})
	if err != nil {
		return edges.Report{}, fmt.Errorf("read %s: %w", s.stateDir, err)
	}
	return t.Snapshot(), nil
}

// fetchMerged asks every admin URL for path and merges the answers.
func fetchMerged[R any](ctx context.Context, admins []string, path string, merge func(...R) R) (R, error) {
	var reports []R
	for _, a := range admins {
		var one R
		if err := fetchJSON(ctx, a, path, &one); err != nil {
			return one, err
		}
		reports = append(reports, one)
	}
	return merge(reports...), nil
}

func diffCookies(oldPath, newPath, format string, stdout io.Writer) error {
	read := func(path string) (cookies.Report, error) {
		f, err := os.Open(path)
		if err != nil {
			return cookies.Report{}, usageError{err}
		}
		defer f.Close()
		r, err := cookies.ReadReport(f)
		if err != nil {
			return r, usageError{fmt.Errorf("%s: %w", path, err)}
		}
		return r, nil
	}
	old, err := read(oldPath)
	if err != nil {
		return err
	}
	cur, err := read(newPath)
	if err != nil {
		return err
	}
	return cookies.WriteDiff(stdout, cookies.Diff(old, cur), format)
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
