package main

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

// writeSVG draws one panel per strategy: each tier's SL over a trailing
// window (solid) against its target (dashed), with the peak hour shaded.
func writeSVG(w io.Writer, sc *scenario, results []*result) error {
	const (
		pw, ph     = 460.0, 220.0 // panel plot area
		ml, mt     = 50.0, 30.0   // margins inside a panel
		cols       = 2
		cellW      = pw + ml + 20
		cellH      = ph + mt + 40
		yMin, yMax = 0.0, 1.0
	)
	colors := []string{"#1f77b4", "#d4a017", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b"}
	rows := (len(results) + cols - 1) / cols
	width, height := cols*cellW+10, float64(rows)*cellH+50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">Service level per tier (trailing %s) — %s, seed %d, %d agents, base load %.0f%%, peak hour %.0f%%</text>`+"\n",
		chartWindow, html.EscapeString(sc.name), sc.seed, len(sc.agents), 100*sc.load, 100*sc.peakLoad())
	day := sc.day.Seconds()
	for k, r := range results {
		ox := 10 + float64(k%cols)*cellW + ml
		oy := 40 + float64(k/cols)*cellH + mt
		x := func(sec float64) float64 { return ox + pw*sec/day }
		y := func(v float64) float64 {
			if v < yMin {
				v = yMin
			}
			return oy + ph*(1-(v-yMin)/(yMax-yMin))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" font-weight="bold">%s</text>`+"\n", ox, oy-10, html.EscapeString(r.st.name))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#f3e0e0"/>`+"\n",
			x(sc.peakStart.Seconds()), oy, x(sc.peakEnd.Seconds())-x(sc.peakStart.Seconds()), ph)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", ox, oy, pw, ph)
		for v := 0.0; v <= 1.0001; v += 0.25 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n",
				ox, y(v), ox+pw, y(v), ox-4, y(v)+4, 100*v)
		}
		for h := 0.0; h <= sc.day.Hours(); h++ {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(h*3600), oy+ph+14, sc.clock(time.Duration(h*float64(time.Hour))))
		}
		for i, t := range sc.tiers {
			c := colors[i%len(colors)]
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3" stroke-width="1"/>`+"\n",
				ox, y(t.Target), ox+pw, y(t.Target), c)
			var pts []string
			for j, v := range r.series[i] {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.sampleAt[j].Seconds()), y(v)))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`+"\n", c, strings.Join(pts, " "))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s %.0f%%/%.0fs</text>`+"\n",
				ox+pw-100, oy+ph-8-14*float64(len(sc.tiers)-1-i), c, html.EscapeString(t.Name), 100*t.Target, t.Threshold.Seconds())
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
