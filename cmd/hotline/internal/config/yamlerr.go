package config

import (
	"errors"
	"regexp"
	"strconv"
)

var (
	yamlLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknownKey = regexp.MustCompile(`^field (\S+) not found in type .*$`)
)

// typeErrors turns yaml.v3's type errors ("line 39: field x not found in
// type struct { … }") into file:line errors an operator can read
// ("my.yaml:39: x: unknown key").
func typeErrors(file string, msgs []string) error {
	var errs []error
	for _, m := range msgs {
		e := &Error{File: file, Msg: m}
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			e.Msg = sub[2]
			if k := yamlUnknownKey.FindStringSubmatch(sub[2]); k != nil {
				e.Key, e.Msg = k[1], "unknown key"
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
