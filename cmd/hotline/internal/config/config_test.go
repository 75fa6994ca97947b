package config

import (
	"os"
	"strings"
	"testing"
)

func demo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../../testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDemoIsValid(t *testing.T) {
	c, err := Parse("hotline.yaml", demo(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("demo configuration invalid: %v", err)
	}
	if c.SIP.UDP != "127.0.0.1:5060" || c.HTTP.Listen != "127.0.0.1:8080" || c.AccessNumbers["10010"] != "main" || len(c.Agents) != 4 {
		t.Fatalf("demo contract changed: %+v", c)
	}
}

func TestErrorsNameFileAndKey(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"unknown key", "realm: hotline", "realm: hotline\n  realms: x", []string{"hotline.yaml", "line", "realms"}},
		{"bad duration", "ring_timeout: 15s", "ring_timeout: soon", []string{"hotline.yaml", "soon", "duration"}},
		{"bad address", "udp: 127.0.0.1:5060", "udp: localhost", []string{"sip.udp", "localhost"}},
		{"bad rtp range", "rtp_ports: 20000-29999", "rtp_ports: 30000-20000", []string{"sip.rtp_ports"}},
		{"bad codec", "codecs: [PCMU, PCMA]", "codecs: [PCMU, OPUS]", []string{"sip.codecs[1]", "OPUS"}},
		{"bad trunk source", "sources: [127.0.0.0/8]", "sources: [not-an-ip]", []string{"trunks[0].sources[0]"}},
		{"bad tier target", "{name: gold, target: 90, within: 15s}", "{name: gold, target: 190, within: 15s}", []string{"tiers[1].target"}},
		{"bad strategy", "{name: general, wrap_up: 5s,", "{name: general, wrap_up: 5s, strategy: loudest,", []string{"queues[0].strategy", "loudest"}},
		{"bad record policy", "{name: billing, wrap_up: 5s,", "{name: billing, wrap_up: 5s, record: sometimes,", []string{"queues[1].record"}},
		{"duplicate wrap-up code", "[resolved, refund,", "[resolved, resolved, refund,", []string{"queues[1].wrap_up_codes[1]", "duplicate"}},
		{"language for an unknown access number", `"10011": zh`, `"10012": zh`, []string{"access_languages.10012"}},
		{"bad desktop language", "history: 5", "history: 5\n  languages: {\"1001\": fr}", []string{"desktop.languages.1001", "zh-CN"}},
		{"skill of no queue", "skills: {billing: 1, general: 2}", "skills: {billing: 1, sales: 2}", []string{"agents[0].skills.sales"}},
		{"skill level zero", "skills: {billing: 1, general: 2}", "skills: {billing: 0, general: 2}", []string{"agents[0].skills.billing"}},
		{"bad role", "role: supervisor", "role: boss", []string{"agents[3].role", "boss"}},
		{"missing password", "password: pass1002, ", "", []string{"agents[1].password", "HOTLINE_AGENT_1002_PASSWORD"}},
		{"bad policy", "policy: gap-saveable", "policy: loudest-first", []string{"acd.policy"}},
		{"unknown store", "language: en", "language: en\nstore: etcd", []string{"store", "etcd"}},
		{"redis without address", "language: en", "language: en\nstore: redis", []string{"redis.addr"}},
		{"tls without certificate", "udp: 127.0.0.1:5060", "udp: 127.0.0.1:5060\n  tls: 127.0.0.1:5061", []string{"sip.tls", "tls_cert"}},
		{"bad srtp", "language: en", "language: en\nmedia: {srtp: sometimes}", []string{"media.srtp", "sometimes"}},
		{"bad phone", "role: supervisor", "role: supervisor, phone: desk", []string{"agents[3].phone", "desk"}},
		{"bad webrtc port", "language: en", "language: en\nmedia: {webrtc_port: 70000}", []string{"media.webrtc_port"}},
		{"bad rtp sockets", "language: en", "language: en\nmedia: {rtp_sockets: pooled}", []string{"media.rtp_sockets", "pooled"}},
		{"bad shared ports", "language: en", "language: en\nmedia: {shared_ports: -1}", []string{"media.shared_ports"}},
		{"bad latch", "udp: 127.0.0.1:5060", "udp: 127.0.0.1:5060\n  rtp_latch: anyone", []string{"sip.rtp_latch", "anyone"}},
		{"hash without ha1", "password: pass1002, ", "password_hash: $2b$10$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab, ", []string{"agents[1].sip_ha1"}},
		{"bad hash", "password: pass1002, ", "password: x, password_hash: md5-abc, ", []string{"agents[1].password_hash"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := string(demo(t))
			if !strings.Contains(src, tc.from) {
				t.Fatalf("demo lacks %q", tc.from)
			}
			src = strings.Replace(src, tc.from, tc.to, 1)
			c, err := Parse("hotline.yaml", []byte(src))
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := Parse("hotline.yaml", demo(t))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOTLINE_SIP_UDP": "127.0.0.1:5070", "HOTLINE_AGENT_1001_PASSWORD": "s3cret", "HOTLINE_RTP_PORTS": "40000-40100"}
	c.ApplyEnv(func(k string) string { return env[k] })
	if c.SIP.UDP != "127.0.0.1:5070" || c.Agents[0].Password != "s3cret" || c.SIP.RTPPorts != "40000-40100" {
		t.Fatalf("overrides not applied: %+v", c.SIP)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	env = map[string]string{"HOTLINE_STORE": "redis", "HOTLINE_REDIS_ADDR": "127.0.0.1:6390", "HOTLINE_NODE": "n2"}
	c.ApplyEnv(func(k string) string { return env[k] })
	if c.Store != "redis" || c.Redis.Addr != "127.0.0.1:6390" || c.Redis.Node != "n2" {
		t.Fatalf("cluster overrides not applied: store %q redis %+v", c.Store, c.Redis)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Unknown keys and syntax errors name the file and the line.
func TestParseErrorsNameFileAndLine(t *testing.T) {
	_, err := Parse("my.yaml", []byte("sip:\n  udp: 127.0.0.1:5060\nacd:\n  ring_timeout: 15s\n  no_such_key: 1\n"))
	if err == nil || err.Error() != "my.yaml:5: no_such_key: unknown key" {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = Parse("my.yaml", []byte("sip:\n  udp: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "my.yaml:") {
		t.Fatalf("syntax error: %v", err)
	}
}
