package webui

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// chart is an SVG chart laid out on the server; templates/chart.html draws
// it. Coordinates are in the viewBox, which CSS scales to the page width.
type chart struct {
	ID, Title, Desc string
	Empty           string // shown instead of the plot when there is no data
	W, H            float64
	X0, X1, Y0, Y1  float64 // the plot area: X0 left, Y0 top
	Lines           []chartLine
	HLines          []chartHLine
	XTicks, YTicks  []tick
	Bars            []chartBar
	Legend          []legendItem
}

type chartLine struct {
	Class, D string
}

type chartHLine struct {
	Y            float64
	Class, Label string
}

type tick struct {
	Pos    float64
	Label  string
	Anchor string // text-anchor of an x tick: start, middle or end
}

type chartBar struct {
	X, Y, W, H   float64
	Class, Label string
	Value        string
	Marks        []chartMark // thresholds drawn across the bar
}

type chartMark struct {
	Y            float64
	Class, Label string
}

type legendItem struct {
	Class, Name string
}

const (
	chartW      = 640
	chartH      = 220
	chartLeft   = 60
	chartRight  = 12
	chartTop    = 14
	chartBottom = 30
)

func newChart(id, title string) chart {
	return chart{
		ID: id, Title: title, W: chartW, H: chartH,
		X0: chartLeft, X1: chartW - chartRight, Y0: chartTop, Y1: chartH - chartBottom,
	}
}

// timeSeries is one line of a time chart; NaN values are gaps.
type timeSeries struct {
	Name, Class string
	T           []int64 // Unix seconds, ascending
	V           []float64
}

// hline is a horizontal reference line, e.g. the error ratio an objective
// allows.
type hline struct {
	Value        float64
	Class, Label string
}

// timeChart lays out series over [from, to] with a y axis from 0 to a
// round number above the data, the reference lines and minTop.
func timeChart(id, title, desc string, from, to int64, series []timeSeries, refs []hline, minTop float64, yfmt func(float64) string) chart {
	c := newChart(id, title)
	c.Desc = desc
	top := minTop
	points := 0
	for _, s := range series {
		for _, v := range s.V {
			if !math.IsNaN(v) {
				top = max(top, v)
				points++
			}
		}
	}
	if points == 0 {
		c.Empty = "No data yet."
		return c
	}
	for _, r := range refs {
		top = max(top, r.Value*1.25)
	}
	top = niceCeil(top)
	if to <= from {
		to = from + 1
	}
	x := func(t int64) float64 { return c.X0 + (c.X1-c.X0)*float64(t-from)/float64(to-from) }
	y := func(v float64) float64 { return c.Y1 - (c.Y1-c.Y0)*min(v, top)/top }
	for _, s := range series {
		var d strings.Builder
		pen := false
		for i, v := range s.V {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			if pen {
				d.WriteString(" L")
			} else {
				if d.Len() > 0 {
					d.WriteByte(' ')
				}
				d.WriteString("M")
			}
			d.WriteString(coord(x(s.T[i])) + " " + coord(y(v)))
			pen = true
		}
		c.Lines = append(c.Lines, chartLine{Class: s.Class, D: d.String()})
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Name: s.Name})
	}
	for _, r := range refs {
		c.HLines = append(c.HLines, chartHLine{Y: y(r.Value), Class: r.Class, Label: r.Label})
		c.Legend = append(c.Legend, legendItem{Class: r.Class, Name: r.Label})
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: yfmt(v)})
	}
	layout := "15:04"
	if to-from < 20*60 {
		layout = "15:04:05"
	}
	for i := 0; i <= 4; i++ {
		t := from + (to-from)*int64(i)/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: time.Unix(t, 0).UTC().Format(layout), Anchor: anchor})
	}
	return c
}

// burnBar is one window of a burn-rate chart with the alert factors that
// apply to it.
type burnBar struct {
	Window string
	Burn   float64
	Marks  []hline
}

// burnChart draws burn rates as bars on a log(1+x) scale, so that a
// threshold of 1× stays visible next to a burn rate of 1000×, with each
// window's alert factors marked across its bar.
func burnChart(id, title, desc string, bars []burnBar) chart {
	c := newChart(id, title)
	c.Desc = desc
	top := math.Log1p(20)
	for _, b := range bars {
		top = max(top, math.Log1p(b.Burn)*1.1)
	}
	y := func(v float64) float64 { return c.Y1 - (c.Y1-c.Y0)*math.Log1p(max(v, 0))/top }
	slot := (c.X1 - c.X0) / float64(max(len(bars), 1))
	for i, b := range bars {
		bx := c.X0 + slot*float64(i) + slot*0.2
		bar := chartBar{X: bx, W: slot * 0.6, Y: y(b.Burn), H: c.Y1 - y(b.Burn), Label: b.Window, Value: formatBurn(b.Burn), Class: "burn-ok"}
		for _, m := range b.Marks {
			bar.Marks = append(bar.Marks, chartMark{Y: y(m.Value), Class: m.Class, Label: m.Label})
			if b.Burn > m.Value {
				bar.Class = "burn-over"
			}
		}
		c.Bars = append(c.Bars, bar)
		c.XTicks = append(c.XTicks, tick{Pos: bx + slot*0.3, Label: b.Window, Anchor: "middle"})
	}
	for _, v := range []float64{0, 1, 3, 6, 14.4, 100, 1000, 10000} {
		if math.Log1p(v) <= top {
			c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: formatFactor(v)})
		}
	}
	c.Legend = []legendItem{{"burn-ok", "below every factor"}, {"burn-over", "above a factor"}, {"mark-page", "page factor"}, {"mark-ticket", "ticket factor"}}
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func formatBurn(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
