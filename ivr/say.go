package ivr

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// A speaker turns values into the names of prompt fragments, in the word
// order and grammar of one language: the files themselves are looked up in
// the call's prompt directory like any prompt (num/7, money/yuan, …).
//
// English builds numbers from 0–19, the tens and "hundred"/"thousand".
// Mandarin builds them from the ten digits and the place words 十 百 千 万,
// with its own rules: 零 once for a run of inner zeros (一千零五), no
// 一 before a leading 十 (十二, but 一百一十), 两 rather than 二 before 千,
// 万 and a measure word (两千, 两分钟), and 幺 for 1 in digit strings
// (工号幺零零幺), as phone numbers are read.
type speaker interface {
	// digits reads each digit of s; other characters are skipped.
	digits(s string) ([]string, bool)
	// number reads a whole number (positions, amounts on their own).
	number(s string) ([]string, bool)
	// count reads n before a measure word (minutes, yuan).
	count(n int64) []string
	// money reads a decimal amount in yuan, e.g. "-12.05".
	money(s string) ([]string, bool)
	// duration reads seconds ("95") or a Go duration ("1h2m5s").
	duration(s string) ([]string, bool)
	// fragments lists every fragment a kind of say may need, so flows are
	// checked at load time for a complete set.
	fragments(k sayKind) []string
}

// sayKind is what a say node reads.
type sayKind int

const (
	sayNumberKind sayKind = iota // numbers and digit strings
	sayMoneyKind
	sayDurationKind
)

// speakerFor picks the grammar of a prompt language: zh, zh-CN, zh_cn and
// cmn are Mandarin, everything else English.
func speakerFor(lang string) speaker {
	l := strings.ToLower(lang)
	if l == "zh" || l == "cmn" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_") {
		return mandarin{}
	}
	return english{}
}

// maxSpoken bounds numbers read as numbers: longer ones are read digit by
// digit (nobody waits that long in a queue; account numbers are digits).
const maxSpoken = 1_000_000

type english struct{}

func (english) digits(s string) ([]string, bool) { return sayDigits(s) }
func (english) number(s string) ([]string, bool) { return sayNumber(s) }

func (english) count(n int64) []string {
	w, _ := sayNumber(strconv.FormatInt(n, 10))
	return w
}

func (e english) money(s string) ([]string, bool) {
	neg, yuan, cents, ok := parseMoney(s)
	if !ok {
		return nil, false
	}
	var out []string
	if neg {
		out = append(out, "money/minus")
	}
	if yuan > 0 || cents == 0 {
		out = append(append(out, e.count(yuan)...), "money/yuan")
	}
	if cents > 0 {
		out = append(append(out, e.count(cents)...), "money/fen")
	}
	return out, true
}

func (e english) duration(s string) ([]string, bool) {
	h, m, sec, ok := parseDuration(s)
	if !ok {
		return nil, false
	}
	var out []string
	unit := func(n int64, one, many string) {
		w := many
		if n == 1 {
			w = one
		}
		out = append(append(out, e.count(n)...), w)
	}
	if h > 0 {
		unit(h, "time/hour", "time/hours")
	}
	if m > 0 {
		unit(m, "time/minute", "time/minutes")
	}
	if sec > 0 || (h == 0 && m == 0) {
		unit(sec, "time/second", "time/seconds")
	}
	return out, true
}

func (english) fragments(k sayKind) []string {
	switch k {
	case sayMoneyKind:
		return append([]string{"money/yuan", "money/fen", "money/minus"}, numberFragments...)
	case sayDurationKind:
		return append([]string{"time/hour", "time/hours", "time/minute", "time/minutes", "time/second", "time/seconds"}, numberFragments...)
	}
	return numberFragments
}

// sayDigits speaks each digit of s ("1001" → one zero zero one). Other
// characters are skipped; it reports false if s holds no digit.
func sayDigits(s string) ([]string, bool) {
	var out []string
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			out = append(out, "num/"+string(c))
		}
	}
	return out, len(out) > 0
}

// sayNumber speaks a whole number in English fragments
// (1234 → one thousand two hundred thirty four). Numbers of a million or
// more are read digit by digit.
func sayNumber(s string) ([]string, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, false
	}
	if n >= maxSpoken {
		return sayDigits(s)
	}
	if n == 0 {
		return []string{"num/0"}, true
	}
	var out []string
	if n >= 1000 {
		out = append(out, below1000(n/1000)...)
		out = append(out, "num/thousand")
		n %= 1000
	}
	return append(out, below1000(n)...), true
}

func below1000(n int) []string {
	var out []string
	if n >= 100 {
		out = append(out, "num/"+strconv.Itoa(n/100), "num/hundred")
		n %= 100
	}
	switch {
	case n == 0:
	case n < 20:
		out = append(out, "num/"+strconv.Itoa(n))
	default:
		out = append(out, "num/"+strconv.Itoa(n/10*10))
		if n%10 != 0 {
			out = append(out, "num/"+strconv.Itoa(n%10))
		}
	}
	return out
}

type mandarin struct{}

// mandarinFragments are the number fragments of a Mandarin prompt set.
var mandarinFragments = func() []string {
	out := []string{"num/hundred", "num/thousand", "num/ten-thousand", "num/liang", "num/yao"}
	for i := 0; i <= 10; i++ {
		out = append(out, "num/"+strconv.Itoa(i))
	}
	return out
}()

func (mandarin) digits(s string) ([]string, bool) {
	var out []string
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '1':
			out = append(out, "num/yao")
		case c >= '0' && c <= '9':
			out = append(out, "num/"+string(c))
		}
	}
	return out, len(out) > 0
}

func (m mandarin) number(s string) ([]string, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, false
	}
	if n >= maxSpoken {
		// Long numbers are read digit by digit, 1 as 一 (not a phone number).
		out := make([]string, 0, len(s))
		for i := 0; i < len(s); i++ {
			out = append(out, "num/"+string(s[i]))
		}
		return out, true
	}
	return zhNumber(n), true
}

func (mandarin) count(n int64) []string {
	if n == 2 {
		return []string{"num/liang"}
	}
	if n >= maxSpoken || n < 0 {
		w, _ := mandarin{}.number(strconv.FormatInt(n, 10))
		return w
	}
	return zhNumber(int(n))
}

// zhNumber reads 0 ≤ n < 100,000,000.
func zhNumber(n int) []string {
	if n == 0 {
		return []string{"num/0"}
	}
	if n < 10000 {
		return zhGroup(n, true)
	}
	high, low := n/10000, n%10000
	var out []string
	if high == 2 {
		out = []string{"num/liang"}
	} else {
		out = zhGroup(high, true)
	}
	out = append(out, "num/ten-thousand")
	if low > 0 {
		if low < 1000 {
			out = append(out, "num/0") // 一万零五百
		}
		out = append(out, zhGroup(low, false)...)
	}
	return out
}

// zhGroup reads 1 ≤ n ≤ 9999; leading says whether the group starts the
// number (then 10–19 drop the 一 before 十).
func zhGroup(n int, leading bool) []string {
	places := [...]string{"", "num/10", "num/hundred", "num/thousand"}
	var out []string
	started, zero := false, false
	for place, div := 3, 1000; place >= 0; place, div = place-1, div/10 {
		d := n / div % 10
		if d == 0 {
			if started {
				zero = true
			}
			continue
		}
		if zero {
			out = append(out, "num/0")
			zero = false
		}
		switch {
		case place == 1 && d == 1 && !started && leading:
			// 十二, not 一十二
		case d == 2 && place == 3:
			out = append(out, "num/liang") // 两千
		default:
			out = append(out, "num/"+strconv.Itoa(d))
		}
		if place > 0 {
			out = append(out, places[place])
		}
		started = true
	}
	return out
}

func (m mandarin) money(s string) ([]string, bool) {
	neg, yuan, cents, ok := parseMoney(s)
	if !ok {
		return nil, false
	}
	jiao, fen := cents/10, cents%10
	var out []string
	if neg {
		out = append(out, "money/minus")
	}
	if yuan > 0 || cents == 0 {
		out = append(append(out, m.count(yuan)...), "money/yuan")
	}
	if jiao > 0 {
		out = append(append(out, m.count(jiao)...), "money/jiao")
	}
	if fen > 0 {
		if yuan > 0 && jiao == 0 {
			out = append(out, "num/0") // 十二元零五分
		}
		out = append(append(out, m.count(fen)...), "money/fen")
	}
	return out, true
}

func (m mandarin) duration(s string) ([]string, bool) {
	h, mins, sec, ok := parseDuration(s)
	if !ok {
		return nil, false
	}
	var out []string
	if h > 0 {
		out = append(append(out, m.count(h)...), "time/hours")
	}
	if mins > 0 {
		out = append(append(out, m.count(mins)...), "time/minutes")
	} else if h > 0 && sec > 0 {
		out = append(out, "num/0") // 一小时零五秒
	}
	if sec > 0 || (h == 0 && mins == 0) {
		out = append(append(out, m.count(sec)...), "time/seconds")
	}
	return out, true
}

func (mandarin) fragments(k sayKind) []string {
	switch k {
	case sayMoneyKind:
		return append([]string{"money/yuan", "money/jiao", "money/fen", "money/minus"}, mandarinFragments...)
	case sayDurationKind:
		return append([]string{"time/hours", "time/minutes", "time/seconds"}, mandarinFragments...)
	}
	return mandarinFragments
}

// parseMoney reads "12", "12.5", "-12.05", "+0.99" as yuan and cents
// (rounded half away from zero past two decimals).
func parseMoney(s string) (neg bool, yuan, cents int64, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return false, 0, 0, false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '+' {
			return false, 0, 0, false // no 1e3, no Inf, no NaN
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.Abs(f) >= 1e12 {
		return false, 0, 0, false
	}
	total := int64(math.Round(math.Abs(f) * 100))
	return f < 0 && total > 0, total / 100, total % 100, true
}

// parseDuration reads whole seconds ("95") or a Go duration ("2m30s"),
// rounded to the second, as hours, minutes and seconds.
func parseDuration(s string) (h, m, sec int64, ok bool) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1_000_000*3600 {
			return 0, 0, 0, false
		}
		d = time.Duration(n) * time.Second
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return 0, 0, 0, false
		}
	}
	total := int64(d.Round(time.Second) / time.Second)
	return total / 3600, total % 3600 / 60, total % 60, true
}
