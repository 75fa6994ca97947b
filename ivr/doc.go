// Package ivr runs the voice menus of the hotline: it loads call flows from
// YAML files, validates them at load time (every error names file, line and
// node), keeps them in a registry that reloads atomically, and interprets a
// flow for one call against small interfaces the engine implements (Leg for
// the caller's media and signalling, Lookup for the CRM, Queuer for the ACD
// hand-off, Transferer for transfers). Every call keeps a trace of the nodes
// it passed and the digits it pressed; the trace travels with the call to the
// ACD and into the call record.
//
// # Flow files
//
// One flow per file (testdata/flows/main.yaml is the demo):
//
//	name: main            # default: file name without extension
//	language: en          # prompt directory: <prompts>/<language>/<name>.wav;
//	                      # an access number may run the flow in another
//	                      # (Registry.LoadDirLanguages, config access_languages)
//	start: greeting       # default: the first node
//	calendars:            # for branch rules open:/closed:
//	  office: {timezone: Asia/Shanghai, hours: {mon-fri: "09:00-18:00"}, holidays: [2026-10-01]}
//	nodes:
//	  <id>: {type: <type>, ...}
//
// Node types and their fields (durations like 300ms, 5s, 2m; "${var}"
// expands a call variable where a template is allowed):
//
//	play      prompt(s), barge_in (true|false|"digits"), next
//	menu      prompt(s), options {digit: node}, timeout 5s, no_input, invalid,
//	          retries 3 (invalid and no-input together), default
//	collect   prompt(s), var, min 1, max 20, terminator "#", first_digit_timeout 5s,
//	          inter_digit_timeout 3s, pattern (whole input), invalid, no_input,
//	          retries 3, secret (mask in trace), next, failure
//	lookup    by caller|var, var, timeout 300ms, default_tier normal, next.
//	          Sets tier, region, name, customer_id, blacklisted (true|false),
//	          lookup (found|not_found|failed), lookup_failed=true on failure,
//	          attr_<key> per customer attribute.
//	branch    rules [{tier: [..], vars: {k: v}, caller: re, dialled: re,
//	          open: cal, closed: cal, goto: node}], default. First match wins.
//	set       vars {k: template}, next
//	say       digits: template | number: template | money: template (yuan,
//	          "12.05") | duration: template (seconds or 2m30s), before, after,
//	          next. Read in the call's prompt language: English, or Mandarin
//	          for zh/cmn (十二元零五分, 两分钟五秒, digits with 幺 for 1);
//	          the fragments (num/*, money/*, time/*) must be in its prompt set.
//	queue     queue, tier "${tier}", region "${region}", priority, prompt(s) (intro),
//	          moh moh, announce_every, announce_wait, max_wait + overflow,
//	          leave_digit + voicemail, announce_agent agent, failure,
//	          next (where the caller goes when the agent hangs up first)
//	transfer  flow | number | external (+ trunk) | agent, failure
//	record    prompt(s), beep beep, max_length 2m, silence_timeout 5s,
//	          stop_digit "#", var recording, next
//	survey    prompt(s), var survey_score, min 1, max 5, timeout 5s, retries 2,
//	          invalid, no_input, thanks, next
//	hangup    prompt(s), reason
//
// Any other field is an error, as are unknown node references, unreachable
// nodes, missing prompt files (when LoadOptions.PromptRoot is set) and loops
// that never wait for input.
package ivr
