package webui

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// The geometry of the dependency graph, in SVG user units.
const (
	graphMargin   = 16.0
	graphNodeH    = 30.0
	graphRowGap   = 44.0 // the slot of a node in its column
	graphLaneGap  = 10.0 // the slot of an edge passing through a column
	graphColGap   = 110.0
	graphMinW     = 70.0
	graphMaxW     = 260.0
	graphCharW    = 7.4  // per character at the node label's font size
	graphLabelPad = 40.0 // padding and the status symbol
	graphSweeps   = 4    // barycenter passes, each down then up
)

// graphLayout is where a layered layout puts each node — columns by call
// depth, callers left of what they call, rows ordered to keep edges short
// and crossings few — and the lanes of the edges that pass columns by.
type graphLayout struct {
	layer         []int     // per node
	x, y, w       []float64 // per node: the box's left, top and width
	colX, colW    []float64 // per column
	lanes         [][]lane  // per link: the columns it passes, in the link's direction
	rev           []bool    // per link: a back edge, drawn right to left
	width, height float64
}

// lane is where an edge crosses a column it passes by: at height y.
type lane struct{ col, y float64 }

// layoutGraph lays out n nodes of the given widths joined by links (from,
// to) in the manner of Sugiyama: cycles are broken by reversing the back
// edges of a depth-first search, nodes are layered by longest path, an
// edge spanning several columns gets a lane in each column between, and
// each column is ordered by the barycenter of its neighbours in a few
// sweeps. It runs in O(sweeps × (E + lanes) log V), so 500 services and
// 5,000 edges lay out in milliseconds. Nodes without links share the first
// column.
func layoutGraph(n int, widths []float64, links [][2]int) graphLayout {
	l := graphLayout{rev: backEdges(n, links), w: widths}
	fwd := make([][2]int, len(links))
	for i, e := range links {
		fwd[i] = e
		if l.rev[i] {
			fwd[i] = [2]int{e[1], e[0]}
		}
	}
	l.layer = longestPath(n, fwd)
	layerOf := slices.Clone(l.layer)
	chains := make([][]int, len(links)) // the lane nodes of each link, left to right
	var segs [][2]int
	for i, e := range fwd {
		if e[0] == e[1] {
			continue
		}
		prev := e[0]
		for c := l.layer[e[0]] + 1; c < l.layer[e[1]]; c++ {
			d := len(layerOf)
			layerOf = append(layerOf, c)
			chains[i] = append(chains[i], d)
			segs = append(segs, [2]int{prev, d})
			prev = d
		}
		segs = append(segs, [2]int{prev, e[1]})
	}
	y := l.order(n, layerOf, segs)
	l.x, l.y = make([]float64, n), y[:n]
	l.columns(layerOf)
	l.lanes = make([][]lane, len(links))
	for i, chain := range chains {
		for _, d := range chain {
			l.lanes[i] = append(l.lanes[i], lane{float64(layerOf[d]), y[d] + graphNodeH/2})
		}
	}
	return l
}

// order sorts each column by barycenter sweeps and returns every node's
// (and lane's) top y; nodes below n are real, the rest lanes.
func (l *graphLayout) order(n int, layerOf []int, segs [][2]int) []float64 {
	var cols [][]int
	for v, c := range layerOf {
		for len(cols) <= c {
			cols = append(cols, nil)
		}
		cols[c] = append(cols[c], v)
	}
	in, out := make([][]int, len(layerOf)), make([][]int, len(layerOf))
	for _, s := range segs {
		out[s[0]] = append(out[s[0]], s[1])
		in[s[1]] = append(in[s[1]], s[0])
	}
	y := make([]float64, len(layerOf))
	slot := func(v int) float64 {
		if v < n {
			return graphRowGap
		}
		return graphLaneGap
	}
	tallest := 0.0
	for _, col := range cols {
		h := 0.0
		for _, v := range col {
			h += slot(v)
		}
		tallest = max(tallest, h)
	}
	place := func(col []int) {
		h := 0.0
		for _, v := range col {
			h += slot(v)
		}
		at := graphMargin + 12 + (tallest-h)/2
		for _, v := range col {
			y[v] = at + (slot(v)-graphRowGap)/2 // lanes centred in their slot
			at += slot(v)
		}
	}
	for _, col := range cols {
		place(col)
	}
	key := make([]float64, len(layerOf))
	for range graphSweeps {
		for i := 1; i < len(cols); i++ {
			reorder(cols[i], in, y, key)
			place(cols[i])
		}
		for i := len(cols) - 2; i >= 0; i-- {
			reorder(cols[i], out, y, key)
			place(cols[i])
		}
	}
	l.height = math.Ceil(2*graphMargin + tallest + 24)
	return y
}

// reorder sorts one column by the mean y of each node's neighbours in adj;
// a node without any keeps its place. key is scratch space, one per node.
func reorder(col []int, adj [][]int, y, key []float64) {
	for _, v := range col {
		key[v] = y[v]
		if len(adj[v]) > 0 {
			sum := 0.0
			for _, u := range adj[v] {
				sum += y[u]
			}
			key[v] = sum / float64(len(adj[v]))
		}
	}
	slices.SortStableFunc(col, func(a, b int) int { return cmp.Compare(key[a], key[b]) })
}

// columns sets each column's left and width (its widest node's) and each
// node's x.
func (l *graphLayout) columns(layerOf []int) {
	cols := 0
	for _, c := range layerOf {
		cols = max(cols, c+1)
	}
	l.colX, l.colW = make([]float64, cols), make([]float64, cols)
	for c := range l.colW {
		l.colW[c] = graphMinW
	}
	for v, c := range l.layer {
		l.colW[c] = max(l.colW[c], l.w[v])
	}
	x := graphMargin
	for c := range cols {
		l.colX[c] = x
		x += l.colW[c] + graphColGap
	}
	for v, c := range l.layer {
		l.x[v] = l.colX[c]
	}
	l.width = math.Ceil(x - graphColGap + graphMargin + 60) // room for loops right of the last column
}

// backEdges marks the links a depth-first search (in node order) finds
// going back up its stack; reversing them leaves no cycle. Self-loops are
// not marked.
func backEdges(n int, links [][2]int) []bool {
	adj := make([][]int, n)
	for _, e := range links {
		if e[0] != e[1] {
			adj[e[0]] = append(adj[e[0]], e[1])
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, n)
	back := map[[2]int]bool{}
	type frame struct{ v, next int }
	for root := range n {
		if color[root] != white {
			continue
		}
		stack := []frame{{root, 0}}
		color[root] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(adj[f.v]) {
				color[f.v] = black
				stack = stack[:len(stack)-1]
				continue
			}
			u := adj[f.v][f.next]
			f.next++
			switch color[u] {
			case grey:
				back[[2]int{f.v, u}] = true
			case white:
				color[u] = grey
				stack = append(stack, frame{u, 0})
			}
		}
	}
	rev := make([]bool, len(links))
	for i, e := range links {
		rev[i] = back[e]
	}
	return rev
}

// longestPath layers an acyclic graph (self-loops ignored): sources in
// column 0, every other node one right of its deepest predecessor.
func longestPath(n int, links [][2]int) []int {
	layer := make([]int, n)
	indeg := make([]int, n)
	out := make([][]int, n)
	for _, e := range links {
		if e[0] != e[1] {
			out[e[0]] = append(out[e[0]], e[1])
			indeg[e[1]]++
		}
	}
	queue := make([]int, 0, n)
	for v := range n {
		if indeg[v] == 0 {
			queue = append(queue, v)
		}
	}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, u := range out[v] {
			layer[u] = max(layer[u], layer[v]+1)
			if indeg[u]--; indeg[u] == 0 {
				queue = append(queue, u)
			}
		}
	}
	return layer
}

// labelWidth is the width of a node showing label after its status symbol.
func labelWidth(label string) float64 {
	return min(max(float64(len([]rune(label)))*graphCharW+graphLabelPad, graphMinW), graphMaxW)
}

// edgePath is the SVG path of link i from node a to node b, and the point
// where its undeclared mark goes: smooth curves from a's right side through
// the lanes of the columns it passes to b's left side; a back edge runs
// from a's left side to b's right side; a self-call is a loop on a's right.
func (l graphLayout) edgePath(i, a, b int) (string, float64, float64) {
	if a == b {
		sx, sy := l.x[a]+l.w[a], l.y[a]+graphNodeH/2
		return curves([][2]float64{{sx, sy - 8}, {sx + 45, sy - 36}, {sx + 45, sy + 36}, {sx, sy + 8}}, true)
	}
	from, to := a, b
	if l.rev[i] {
		from, to = b, a
	}
	pts := [][2]float64{{l.x[from] + l.w[from], l.y[from] + graphNodeH/2}}
	for _, ln := range l.lanes[i] {
		c := int(ln.col)
		pts = append(pts, [2]float64{l.colX[c], ln.y}, [2]float64{l.colX[c] + l.colW[c], ln.y})
	}
	pts = append(pts, [2]float64{l.x[to], l.y[to] + graphNodeH/2})
	if l.rev[i] {
		slices.Reverse(pts)
	}
	return curves(pts, false)
}

// curves writes path data through pts — each step a cubic curve leaving
// and arriving horizontally, or, for a loop, the one curve pts are the
// control points of — and returns the middle step's midpoint.
func curves(pts [][2]float64, loop bool) (string, float64, float64) {
	b := make([]byte, 0, 32*len(pts))
	num := func(v float64) { b = strconv.AppendFloat(b, v, 'f', 1, 64) }
	pt := func(p [2]float64) { num(p[0]); b = append(b, ' '); num(p[1]) }
	b = append(b, 'M')
	pt(pts[0])
	if loop {
		b = append(b, " C"...)
		pt(pts[1])
		b = append(b, ',')
		pt(pts[2])
		b = append(b, ',')
		pt(pts[3])
		return string(b), pts[1][0] - 10, pts[0][1] + 8
	}
	var mx, my float64
	mid := (len(pts) - 2) / 2
	for k := 0; k+1 < len(pts); k++ {
		p, q := pts[k], pts[k+1]
		dx := (q[0] - p[0]) / 2
		c1, c2 := [2]float64{p[0] + dx, p[1]}, [2]float64{q[0] - dx, q[1]}
		b = append(b, " C"...)
		pt(c1)
		b = append(b, ',')
		pt(c2)
		b = append(b, ',')
		pt(q)
		if k == mid {
			mx, my = (p[0]+3*c1[0]+3*c2[0]+q[0])/8, (p[1]+3*c1[1]+3*c2[1]+q[1])/8
		}
	}
	return string(b), math.Round(mx*10) / 10, math.Round(my*10) / 10
}
