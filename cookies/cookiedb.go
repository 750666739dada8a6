package cookies

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Knowledge is what a cookie knowledge base says about a cookie name.
type Knowledge struct {
	Category    string // "Analytics", "Functional", "Marketing", ...
	Vendor      string // the platform that sets it, "Google Analytics"
	Retention   string // as the base words it, "2 years"
	Description string
}

// CookieDB labels cookies by name from a CSV in the Open Cookie Database's
// column layout. Only the columns it needs are read, found by their header.
type CookieDB struct {
	exact    map[string]Knowledge
	prefixes []prefixKnowledge // longest prefix first
}

type prefixKnowledge struct {
	prefix string
	Knowledge
}

// The header names recognized, lower-cased: the Open Cookie Database's own,
// then short aliases for hand-written files.
var cookieDBColumns = map[string][]string{
	"name":        {"cookie / data key name", "name"},
	"category":    {"category"},
	"vendor":      {"platform", "vendor"},
	"retention":   {"retention period", "retention"},
	"description": {"description"},
	"wildcard":    {"wildcard match", "wildcard"},
}

// LoadCookieDB reads a cookie knowledge base CSV from path.
func LoadCookieDB(path string) (*CookieDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cookie db: %w", err)
	}
	defer f.Close()
	db, err := ReadCookieDB(f)
	if err != nil {
		return nil, fmt.Errorf("cookie db %q: %w", path, err)
	}
	return db, nil
}

// ReadCookieDB parses a cookie knowledge base CSV. A row whose wildcard
// column is "1" or "true" matches every name starting with its name (the
// Open Cookie Database writes "_ga_" for "_ga_<container id>"); a name
// ending in '*' is a prefix too.
func ReadCookieDB(r io.Reader) (*CookieDB, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		for field, names := range cookieDBColumns {
			for _, n := range names {
				if h == n {
					if _, dup := col[field]; !dup {
						col[field] = i
					}
				}
			}
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, errors.New(`no cookie name column (want "Cookie / Data Key name" or "name")`)
	}
	get := func(rec []string, field string) string {
		i, ok := col[field]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	db := &CookieDB{exact: map[string]Knowledge{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		name := get(rec, "name")
		if name == "" {
			continue
		}
		k := Knowledge{
			Category:    get(rec, "category"),
			Vendor:      get(rec, "vendor"),
			Retention:   get(rec, "retention"),
			Description: get(rec, "description"),
		}
		w := strings.ToLower(get(rec, "wildcard"))
		switch {
		case strings.HasSuffix(name, "*"):
			db.prefixes = append(db.prefixes, prefixKnowledge{strings.TrimSuffix(name, "*"), k})
		case w == "1" || w == "true" || w == "yes":
			db.prefixes = append(db.prefixes, prefixKnowledge{name, k})
		default:
			if _, dup := db.exact[name]; !dup {
				db.exact[name] = k
			}
		}
	}
	sort.SliceStable(db.prefixes, func(i, j int) bool { return len(db.prefixes[i].prefix) > len(db.prefixes[j].prefix) })
	return db, nil
}

// Lookup returns what the base knows about a cookie name: an exact entry,
// else the longest matching prefix.
func (db *CookieDB) Lookup(name string) (Knowledge, bool) {
	if db == nil {
		return Knowledge{}, false
	}
	if k, ok := db.exact[name]; ok {
		return k, true
	}
	for _, p := range db.prefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.Knowledge, true
		}
	}
	return Knowledge{}, false
}

// Len returns the number of entries.
func (db *CookieDB) Len() int {
	if db == nil {
		return 0
	}
	return len(db.exact) + len(db.prefixes)
}
