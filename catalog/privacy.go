package catalog

import (
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Privacy holds the catalog's privacy rules: the top-level privacy key.
type Privacy struct {
	// MaxCookieLifetime is the longest lifetime (Max-Age, or Expires
	// relative to the response) a cookie may be set with; a longer one is
	// the long-lifetime finding. Default DefaultMaxCookieLifetime.
	MaxCookieLifetime CookieLifetime
}

// CookieLifetime is a cookie lifetime limit as the catalog states it.
type CookieLifetime struct {
	// Seconds is the limit: a cookie set to live longer is flagged.
	Seconds int64
	// Text is the limit as written: "400d", "13mo", "9600h".
	Text string
}

// Duration returns the limit as a time.Duration.
func (l CookieLifetime) Duration() time.Duration { return time.Duration(l.Seconds) * time.Second }

// MonthSeconds is the length of the month unit "mo": a twelfth of the
// Gregorian year (365.2425 days), so 13mo is 395.7 days and 12mo a year.
const MonthSeconds = 2_629_746

// DefaultMaxCookieLifetime is privacy.max_cookie_lifetime when the catalog
// sets none: 400 days, the longest lifetime browsers grant (RFC 6265bis).
var DefaultMaxCookieLifetime = CookieLifetime{Seconds: 400 * 86400, Text: "400d"}

// CookieLifetime returns the catalog's privacy.max_cookie_lifetime:
// DefaultMaxCookieLifetime for a nil catalog or one assembled without it.
func (c *Catalog) CookieLifetime() CookieLifetime {
	if c == nil || c.Privacy.MaxCookieLifetime.Seconds <= 0 {
		return DefaultMaxCookieLifetime
	}
	return c.Privacy.MaxCookieLifetime
}

var (
	privacyKeys = []string{"max_cookie_lifetime"}
	// monthsRE: a whole number of months, the unit privacy rules use
	// (the CNIL's 13 months).
	monthsRE = regexp.MustCompile(`^([0-9]+)mo$`)
)

// privacy decodes privacy: {max_cookie_lifetime: …} over the defaults.
func (p *parser) privacy(n *yaml.Node) Privacy {
	out := Privacy{MaxCookieLifetime: DefaultMaxCookieLifetime}
	fs, ok := p.mapping(n, "privacy", " like {max_cookie_lifetime: 13mo}", privacyKeys)
	if !ok {
		return out
	}
	if f, ok := fs["max_cookie_lifetime"]; ok {
		if l, ok := p.cookieLifetime(f.val); ok {
			out.MaxCookieLifetime = l
		}
	}
	return out
}

// cookieLifetime reads a lifetime: a whole number of months ("13mo") or a
// Prometheus duration ("400d", "1y", "9600h"), at least one second.
func (p *parser) cookieLifetime(n *yaml.Node) (CookieLifetime, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "max_cookie_lifetime of privacy must be a duration such as 400d or 13mo, got %s", describe(n))
		return CookieLifetime{}, false
	}
	var secs int64
	if m := monthsRE.FindStringSubmatch(n.Value); m != nil {
		months, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || months > math.MaxInt64/MonthSeconds {
			p.errorf(n, "max_cookie_lifetime %q of privacy is too long", n.Value)
			return CookieLifetime{}, false
		}
		secs = months * MonthSeconds
	} else {
		d, err := model.ParseDuration(n.Value)
		if err != nil {
			p.errorf(n, "max_cookie_lifetime %q of privacy is not a duration such as 400d, 13mo or 9600h (units: mo, y, w, d, h, m, s)", n.Value)
			return CookieLifetime{}, false
		}
		secs = int64(time.Duration(d) / time.Second)
	}
	if secs < 1 {
		p.errorf(n, "max_cookie_lifetime %q of privacy must be at least 1s", n.Value)
		return CookieLifetime{}, false
	}
	return CookieLifetime{Seconds: secs, Text: n.Value}, true
}
