package pii

import "strings"

// Path returns the request path p (with its query string, if any) with
// every qualifying unit replaced by its placeholder, and adds each
// replacement to c, which may be nil. When nothing qualifies it returns p
// itself and does not allocate.
func Path(p string, c *Counts) string {
	m := masker{src: p, counts: c}
	// One pass: the byte classes of each segment are gathered on the way,
	// so most segments are judged without another look at their bytes.
	start, cls := 0, byteClass(0)
	for i := 0; i < len(p); i++ {
		switch b := p[i]; b {
		case '/':
			m.segment(start, i, cls)
			start, cls = i+1, 0
		case '?':
			m.segment(start, i, cls)
			m.params(i+1, len(p), '&', true)
			return m.result()
		default:
			cls |= byteClasses[b]
		}
	}
	m.segment(start, len(p), cls)
	return m.result()
}

// UserAgent returns ua with every e-mail address in it replaced by
// {email}, adding each to c, which may be nil. When there is none it
// returns ua itself and does not allocate.
func UserAgent(ua string, c *Counts) string {
	if strings.IndexByte(ua, '@') < 0 && !strings.Contains(ua, "%40") {
		return ua
	}
	m := masker{src: ua, counts: c}
	for from := 0; ; {
		start, end, ok := nextEmail(ua, from, m.last)
		if !ok {
			break
		}
		m.replace(start, end, Email)
		from = end
	}
	return m.result()
}

// masker copies src into out lazily: out stays empty until the first
// replacement, so a clean input costs nothing but the scan.
type masker struct {
	src     string
	counts  *Counts
	out     strings.Builder
	started bool
	last    int // src[:last] is already in out
}

func (m *masker) replace(i, j int, k Kind) {
	if !m.started {
		m.started = true
		m.out.Grow(len(m.src) + len("{email}"))
	}
	m.out.WriteString(m.src[m.last:i])
	m.out.WriteString(k.Placeholder())
	m.last = j
	m.counts.add(k)
}

func (m *masker) result() string {
	if !m.started {
		return m.src
	}
	m.out.WriteString(m.src[m.last:])
	return m.out.String()
}

// segment masks src[i:j], one path segment whose byte classes are cls:
// whole, or else each of its path parameters (";name=value").
func (m *masker) segment(i, j int, cls byteClass) {
	if j-i < minUnit {
		return
	}
	if m.judged(i, j, cls, false) {
		return
	}
	if cls&cSemicolon != 0 {
		m.params(i, j, ';', false)
	}
}

// params masks the name and the value of each sep-separated parameter of
// src[i:j]; plus says "+" stands for a space (form encoding).
func (m *masker) params(i, j int, sep byte, plus bool) {
	for i <= j {
		stop := j
		if k := strings.IndexByte(m.src[i:j], sep); k >= 0 {
			stop = i + k
		}
		if eq := strings.IndexByte(m.src[i:stop], '='); eq >= 0 {
			m.unit(i, i+eq, plus)
			m.unit(i+eq+1, stop, plus)
		} else {
			m.unit(i, stop, plus)
		}
		i = stop + 1
	}
}

// unit masks src[i:j] when, percent-decoded, it qualifies, and reports
// whether it did.
func (m *masker) unit(i, j int, plus bool) bool {
	if j-i < minUnit {
		return false
	}
	return m.judged(i, j, classesOf(m.src[i:j]), plus)
}

// judged is unit for a unit whose byte classes are known.
func (m *masker) judged(i, j int, cls byteClass, plus bool) bool {
	u := m.src[i:j]
	var k Kind
	var ok bool
	if cls&cPercent != 0 || plus && cls&cPlus != 0 {
		k, ok = judgeEscaped(u, plus)
	} else {
		k, ok = judge(u, cls)
	}
	if ok {
		m.replace(i, j, k)
	}
	return ok
}

// scratchSize bounds the units decoded on the stack; longer encoded units
// are rare enough to decode on the heap.
const scratchSize = 512

// judgeEscaped judges a unit after percent-decoding it.
func judgeEscaped(u string, plus bool) (Kind, bool) {
	var scratch [scratchSize]byte
	buf := scratch[:]
	if len(u) > len(buf) {
		buf = make([]byte, len(u))
	}
	d := unescape(buf, u, plus)
	return judge(d, classesOf(d))
}

// unescape decodes u's %XX escapes (and "+" as a space when plus) into dst,
// which must hold len(u) bytes, keeping a malformed escape as written, and
// returns the decoded bytes.
func unescape(dst []byte, u string, plus bool) []byte {
	n := 0
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]):
			c = unhex(u[i+1])<<4 | unhex(u[i+2])
			i += 2
		case c == '+' && plus:
			c = ' '
		}
		dst[n] = c
		n++
	}
	return dst[:n]
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
