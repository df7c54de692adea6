package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// A small renderer for the report's plots: lines, bars, axes and text in a
// 5×7 bitmap font, written with image/png. No plotting dependencies.

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{30, 30, 30, 255}
	grey      = color.RGBA{120, 120, 120, 255}
	gridGrey  = color.RGBA{225, 225, 225, 255}
	colDirect = color.RGBA{31, 119, 180, 255}  // blue
	colRP     = color.RGBA{127, 127, 127, 255} // grey
	colGW     = color.RGBA{255, 127, 14, 255}  // orange
	colGWPol  = color.RGBA{214, 39, 40, 255}   // red
	colClient = color.RGBA{148, 103, 189, 255} // purple
	colUp     = color.RGBA{44, 160, 44, 255}   // green
)

// targetColor is the colour of a target in every plot.
func targetColor(name string) color.RGBA {
	switch name {
	case tDirect:
		return colDirect
	case tRP:
		return colRP
	case tGW:
		return colGW
	default:
		return colGWPol
	}
}

type canvas struct{ img *image.RGBA }

func newCanvas(w, h int) *canvas {
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	c.fill(0, 0, w, h, white)
	return c
}

func (c *canvas) set(x, y int, col color.RGBA) {
	if image.Pt(x, y).In(c.img.Rect) {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *canvas) fill(x0, y0, x1, y1 int, col color.RGBA) {
	if x0 > x1 {
		x0, x1 = x1, x0
	}
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.set(x, y, col)
		}
	}
}

// line draws a line of thickness w (Bresenham, with a square pen).
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA, w int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		c.fill(x0-w/2, y0-w/2, x0-w/2+w, y0-w/2+w, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// textWidth is the width of s drawn at scale.
func textWidth(s string, scale int) int { return len([]rune(s)) * (glyphW + 1) * scale }

// text draws s with its top left corner at (x, y).
func (c *canvas) text(x, y int, s string, col color.RGBA, scale int) {
	for _, r := range s {
		for gy, row := range glyph(r) {
			for gx, p := range row {
				if p == '#' {
					c.fill(x+gx*scale, y+gy*scale, x+(gx+1)*scale, y+(gy+1)*scale, col)
				}
			}
		}
		x += (glyphW + 1) * scale
	}
}

// textUp draws s rotated a quarter turn anticlockwise, its baseline on x,
// reading upwards from y.
func (c *canvas) textUp(x, y int, s string, col color.RGBA, scale int) {
	for _, r := range s {
		for gy, row := range glyph(r) {
			for gx, p := range row {
				if p == '#' {
					px, py := x+gy*scale, y-(gx+1)*scale
					c.fill(px, py, px+scale, py+scale, col)
				}
			}
		}
		y -= (glyphW + 1) * scale
	}
}

func (c *canvas) save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// axis maps data values to pixels, linearly or logarithmically.
type axis struct {
	label    string
	min, max float64
	log      bool
	ticks    []tick
}

type tick struct {
	v     float64
	label string
}

func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	}
	return (v - a.min) / (a.max - a.min)
}

// frame is the plotting area of a chart.
type frame struct {
	c                      *canvas
	left, top, right, bott int
	x, y                   axis
}

func (f frame) px(v float64) int {
	return f.left + int(math.Round(f.x.frac(v)*float64(f.right-f.left)))
}

func (f frame) py(v float64) int {
	return f.bott - int(math.Round(f.y.frac(v)*float64(f.bott-f.top)))
}

const (
	plotW = 1000
	plotH = 560
)

// newFrame draws the title, the axes, grid and tick labels.
func newFrame(title string, x, y axis) frame {
	c := newCanvas(plotW, plotH)
	f := frame{c: c, left: 110, top: 84, right: plotW - 40, bott: plotH - 80, x: x, y: y}
	c.text((plotW-textWidth(title, 2))/2, 18, title, black, 2)
	for _, t := range y.ticks {
		py := f.py(t.v)
		c.line(f.left, py, f.right, py, gridGrey, 1)
		c.text(f.left-10-textWidth(t.label, 2), py-7, t.label, black, 2)
	}
	for _, t := range x.ticks {
		px := f.px(t.v)
		c.line(px, f.top, px, f.bott, gridGrey, 1)
		c.text(px-textWidth(t.label, 2)/2, f.bott+10, t.label, black, 2)
	}
	c.line(f.left, f.bott, f.right, f.bott, black, 2)
	c.line(f.left, f.top, f.left, f.bott, black, 2)
	c.text((f.left+f.right-textWidth(x.label, 2))/2, plotH-34, x.label, black, 2)
	c.textUp(16, (f.top+f.bott+textWidth(y.label, 2))/2, y.label, black, 2)
	return f
}

// legend draws coloured boxes with names in a row between the title and
// the plotting area.
func (f frame) legend(names []string, cols []color.RGBA) {
	w := 0
	for _, n := range names {
		w += 24 + textWidth(n, 2) + 24
	}
	x, y := (plotW-w)/2, 50
	for i, n := range names {
		f.c.fill(x, y, x+16, y+14, cols[i])
		f.c.text(x+24, y, n, black, 2)
		x += 24 + textWidth(n, 2) + 24
	}
}

// series is one line of a line chart.
type series struct {
	name string
	col  color.RGBA
	pts  [][2]float64
}

// lineChart draws series over the axes (points outside are clamped).
func lineChart(path, title string, x, y axis, ss []series) error {
	f := newFrame(title, x, y)
	clamp := func(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
	var names []string
	var cols []color.RGBA
	for _, s := range ss {
		var px, py int
		for i, p := range s.pts {
			nx, ny := f.px(clamp(p[0], x.min, x.max)), f.py(clamp(p[1], y.min, y.max))
			if i > 0 {
				f.c.line(px, py, nx, ny, s.col, 3)
			}
			px, py = nx, ny
		}
		names = append(names, s.name)
		cols = append(cols, s.col)
	}
	f.legend(names, cols)
	return f.c.save(path)
}

// bar is one bar: stacked segments and an optional whisker (lo–hi of the
// total; both 0 for none).
type bar struct {
	segs   []float64
	cols   []color.RGBA
	lo, hi float64
	label  string // drawn above the bar
}

type barGroup struct {
	label string
	bars  []bar
}

// barChart draws groups of bars; the legend names the colours.
func barChart(path, title, ylabel string, ymax float64, yticks []tick, groups []barGroup, names []string, cols []color.RGBA) error {
	x := axis{min: 0, max: 1}
	y := axis{label: ylabel, min: 0, max: ymax, ticks: yticks}
	f := newFrame(title, x, y)
	n := len(groups)
	gw := float64(f.right-f.left) / float64(n)
	for gi, g := range groups {
		g0 := float64(f.left) + gw*float64(gi)
		inner := gw * 0.8
		bw := inner / float64(max(len(g.bars), 1))
		for bi, b := range g.bars {
			x0 := int(g0 + gw*0.1 + bw*float64(bi) + bw*0.1)
			x1 := int(g0 + gw*0.1 + bw*float64(bi+1) - bw*0.1)
			base := 0.0
			for si, s := range b.segs {
				f.c.fill(x0, f.py(base+s), x1, f.py(base), b.cols[si])
				base += s
			}
			top := f.py(base)
			if b.hi > 0 {
				mid := (x0 + x1) / 2
				f.c.line(mid, f.py(b.lo), mid, f.py(b.hi), black, 2)
				f.c.line(mid-6, f.py(b.lo), mid+6, f.py(b.lo), black, 2)
				f.c.line(mid-6, f.py(b.hi), mid+6, f.py(b.hi), black, 2)
				top = min(top, f.py(b.hi))
			}
			if b.label != "" {
				f.c.text((x0+x1-textWidth(b.label, 1))/2, top-12, b.label, black, 1)
			}
		}
		f.c.text(int(g0+gw/2)-textWidth(g.label, 2)/2, f.bott+10, g.label, black, 2)
	}
	f.legend(names, cols)
	return f.c.save(path)
}

// niceTicks returns about n round tick values from 0 to max.
func niceTicks(maxV float64, n int, format func(float64) string) (float64, []tick) {
	if maxV <= 0 {
		maxV = 1
	}
	raw := maxV / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	top := math.Ceil(maxV/step) * step
	var ts []tick
	for v := 0.0; v <= top+step/2; v += step {
		ts = append(ts, tick{v, format(v)})
	}
	return top, ts
}

// logTicks returns 1-2-5 ticks between lo and hi.
func logTicks(lo, hi float64, format func(float64) string) []tick {
	var ts []tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo*0.999 && v <= hi*1.001 {
				ts = append(ts, tick{v, format(v)})
			}
		}
	}
	return ts
}

func fmtNum(v float64) string {
	switch {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v*10 == math.Trunc(v*10):
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
