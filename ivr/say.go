package ivr

import "strconv"

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
// more are read digit by digit: nobody waits that long in a queue.
func sayNumber(s string) ([]string, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, false
	}
	if n >= 1_000_000 {
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
