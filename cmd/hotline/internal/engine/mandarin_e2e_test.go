package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

const demoPrompts = "../../../../testdata/prompts"

// heardAs is what a caller decodes from a prompt file sent as PCMU: μ-law
// works sample by sample, so the caller's audio holds exactly this
// sequence wherever the packets cut it.
func heardAs(t *testing.T, lang, name string) []int16 {
	t.Helper()
	p, err := media.LoadWAV(filepath.Join(demoPrompts, lang, name+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := media.PCMU.Encode(nil, p.Samples)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := media.PCMU.Decode(nil, enc)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// inOrder checks that the caller heard each prompt of the language whole,
// one after the other, and returns where the last one ended. A name
// ending in "~" needs only the prompt's first second (the caller cut it
// short with a digit).
func inOrder(t *testing.T, heard []int16, from int, lang string, names ...string) int {
	t.Helper()
	pos := from
	for _, n := range names {
		cut := strings.HasSuffix(n, "~")
		n = strings.TrimSuffix(n, "~")
		want := heardAs(t, lang, n)
		if cut {
			want = want[:min(len(want), 8000)]
		}
		i := index(heard[pos:], want)
		if i < 0 {
			t.Fatalf("the caller did not hear %s/%s.wav (%d samples) after sample %d of %d", lang, n, len(want), pos, len(heard))
		}
		pos += i + len(want)
	}
	return pos
}

func index(hay, needle []int16) int {
	if len(needle) == 0 {
		return 0
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		if hay[i] == needle[0] && slices.Equal(hay[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

func (c *caller) heard() []int16 {
	c.mediaEar.mu.Lock()
	defer c.mediaEar.mu.Unlock()
	return append([]int16(nil), c.mediaEar.pcm...)
}

// The demo's 10011 is the main hotline in Mandarin: the caller hears the
// zh prompt files exactly (greeting, the agent's id read with 幺,
// survey, thanks, goodbye), never an English one.
func TestDemo10011SpeaksMandarin(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 8000}, 1)
	c := d.callTo(t, ctx, "13800000001", "10011") // Demo Diamond: straight to general, agent 1003
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent 1003 never got the caller: exit %d (%v)\n%s", code, err, agent.Output())
	}
	c.waitAudio(c.packets() + 100) // 2 s into the survey prompt
	c.press('4')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Agent != "1003" || res.SurveyScore != 4 {
		t.Fatalf("agent %q survey %d trace %s", res.Agent, res.SurveyScore, traceString(res))
	}
	heard := c.heard()
	pos := inOrder(t, heard, 0, "zh", "greeting") // the hold prompt is cut short: the agent is free
	// "为您服务的是工号" then 1003 as a phone number: 幺 零 零 三.
	pos = inOrder(t, heard, pos, "zh", "agent", "num/yao", "num/0", "num/0", "num/3")
	inOrder(t, heard, pos, "zh", "survey~", "thank-you", "goodbye")
	if index(heard, heardAs(t, "en", "greeting")) >= 0 || index(heard, heardAs(t, "en", "agent")) >= 0 {
		t.Fatal("the Mandarin caller heard an English prompt")
	}
}

// A say node on an access number bound to zh reads numbers, money and
// durations with the Mandarin fragments, in order, from the zh set.
func TestSayMandarinOverSIP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	main, err := os.ReadFile("../../../../testdata/flows/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	flow := `name: saytest
language: en
nodes:
  n: {type: say, number: "1234", next: m}
  m: {type: say, money: "12.05", next: w}
  w: {type: say, duration: "125", next: bye}
  bye: {type: hangup}
`
	for name, body := range map[string][]byte{"main.yaml": main, "saytest.yaml": []byte(flow)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := startDemo(t, func(c *config.Config) {
		c.Flows = dir
		c.AccessNumbers["10097"] = "saytest"
		c.AccessNumbers["10098"] = "saytest"
		c.AccessLanguages["10098"] = "zh"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	zh := d.callTo(t, ctx, "13800000003", "10098")
	if r := zh.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	// 一千二百三十四 · 十二元零五分 · 两分钟五秒
	inOrder(t, zh.heard(), 0, "zh", "num/1", "num/thousand", "num/2", "num/hundred", "num/3", "num/10", "num/4",
		"num/10", "num/2", "money/yuan", "num/0", "num/5", "money/fen",
		"num/liang", "time/minutes", "num/5", "time/seconds")
	en := d.callTo(t, ctx, "13800000003", "10097")
	if r := en.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	// The same flow on its own number stays English: one thousand two hundred thirty four…
	inOrder(t, en.heard(), 0, "en", "num/1", "num/thousand", "num/2", "num/hundred", "num/30", "num/4",
		"num/12", "money/yuan", "num/5", "money/fen", "num/2", "time/minutes", "num/5", "time/seconds")
}
