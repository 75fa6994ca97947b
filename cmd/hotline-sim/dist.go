package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// dist is a distribution of durations (handle time, patience) as written in
// a scenario file: {dist: lognormal, mean: 200s, sigma: 0.5}.
type dist struct {
	Kind  string        `yaml:"dist"`  // constant, exponential, lognormal, pareto
	Mean  time.Duration `yaml:"mean"`  // mean before the cap
	Sigma float64       `yaml:"sigma"` // lognormal: sigma of the underlying normal
	Alpha float64       `yaml:"alpha"` // pareto: tail index (> 1; < 2 means infinite variance)
	Max   time.Duration `yaml:"max"`   // optional cap (a handle time of hours is a data error)
}

func (d *dist) validate(key string) error {
	if d.Mean <= 0 {
		return fmt.Errorf("%s.mean: must be positive", key)
	}
	if d.Max < 0 {
		return fmt.Errorf("%s.max: must not be negative", key)
	}
	switch d.Kind {
	case "constant", "exponential":
	case "lognormal":
		if d.Sigma < 0 {
			return fmt.Errorf("%s.sigma: must not be negative", key)
		}
	case "pareto":
		if d.Alpha <= 1 {
			return fmt.Errorf("%s.alpha: %v must be > 1 (the mean must exist)", key, d.Alpha)
		}
	case "":
		return fmt.Errorf("%s.dist: missing (constant, exponential, lognormal, pareto)", key)
	default:
		return fmt.Errorf("%s.dist: unknown %q (constant, exponential, lognormal, pareto)", key, d.Kind)
	}
	return nil
}

// draw returns one sample. "pareto" is the Lomax (Pareto type II, starting
// at 0) with the given mean: short calls stay common, long ones are heavy.
func (d *dist) draw(rng *rand.Rand) time.Duration {
	m := d.Mean.Seconds()
	var x float64
	switch d.Kind {
	case "constant":
		x = m
	case "exponential":
		x = rng.ExpFloat64() * m
	case "lognormal":
		mu := math.Log(m) - d.Sigma*d.Sigma/2
		x = math.Exp(mu + d.Sigma*rng.NormFloat64())
	case "pareto":
		lambda := m * (d.Alpha - 1)
		x = lambda * (math.Pow(1-rng.Float64(), -1/d.Alpha) - 1)
	}
	if d.Max > 0 && x > d.Max.Seconds() {
		x = d.Max.Seconds()
	}
	return time.Duration(x * float64(time.Second))
}

// mean is the mean of the capped distribution (closed forms), used to turn
// "load" into an arrival rate.
func (d *dist) mean() time.Duration {
	m := d.Mean.Seconds()
	c := d.Max.Seconds()
	if d.Max <= 0 {
		return d.Mean
	}
	var v float64
	switch d.Kind {
	case "constant":
		v = math.Min(m, c)
	case "exponential":
		v = m * (1 - math.Exp(-c/m))
	case "lognormal":
		s := d.Sigma
		if s == 0 {
			v = math.Min(m, c)
			break
		}
		mu := math.Log(m) - s*s/2
		phi := func(z float64) float64 { return 0.5 * (1 + math.Erf(z/math.Sqrt2)) }
		v = m*phi((math.Log(c)-mu-s*s)/s) + c*(1-phi((math.Log(c)-mu)/s))
	case "pareto":
		a := d.Alpha
		lambda := m * (a - 1)
		v = lambda / (a - 1) * (1 - math.Pow(1+c/lambda, 1-a))
	}
	return time.Duration(v * float64(time.Second))
}

func (d *dist) String() string {
	s := fmt.Sprintf("%s mean %s", d.Kind, d.Mean)
	switch d.Kind {
	case "lognormal":
		s += fmt.Sprintf(" σ %.2g", d.Sigma)
	case "pareto":
		s += fmt.Sprintf(" α %.2g", d.Alpha)
	}
	if d.Max > 0 {
		s += fmt.Sprintf(" max %s", d.Max)
	}
	return s
}
