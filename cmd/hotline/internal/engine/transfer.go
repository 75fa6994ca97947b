package engine

import (
	"fmt"
	"sync"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
)

// transferFlows caches the small flow a caller runs after a blind transfer to
// a queue: the queue with the usual in-queue experience, then the survey.
type transferFlows struct {
	mu sync.Mutex
	m  map[string]*ivr.Flow
}

func (e *Engine) queueTransferFlow(queue string) (*ivr.Flow, error) {
	e.xferFlows.mu.Lock()
	defer e.xferFlows.mu.Unlock()
	if f := e.xferFlows.m[queue]; f != nil {
		return f, nil
	}
	src := fmt.Sprintf(`name: transfer-%[1]s
language: %[2]s
start: q
nodes:
  q:
    type: queue
    queue: %[1]s
    moh: moh
    announce_every: 30s
    announce_agent: agent
    max_wait: 120s
    overflow: bye
    failure: bye
    next: survey
  survey:
    type: survey
    prompt: survey
    var: survey_score
    min: 1
    max: 5
    timeout: 5s
    retries: 2
    invalid: invalid
    no_input: noinput
    thanks: thank-you
    next: bye
  bye:
    type: hangup
    prompt: goodbye
    reason: done
`, queue, e.cfg.Language)
	f, err := ivr.ParseFlow("transfer-"+queue+".yaml", []byte(src), ivr.LoadOptions{PromptRoot: e.cfg.Resolve(e.cfg.Prompts)})
	if err != nil {
		return nil, fmt.Errorf("transfer flow for queue %s: %w", queue, err)
	}
	if e.xferFlows.m == nil {
		e.xferFlows.m = map[string]*ivr.Flow{}
	}
	e.xferFlows.m[queue] = f
	return f, nil
}

// transferTarget resolves where a blind transfer sends the caller.
func (e *Engine) transferTarget(to agentapi.Target) (*ivr.Flow, error) {
	switch to.Kind {
	case agentapi.TargetQueue:
		for _, q := range e.cfg.Queues {
			if q.Name == to.Value {
				return e.queueTransferFlow(q.Name)
			}
		}
		return nil, fmt.Errorf("transfer: no queue %q", to.Value)
	case agentapi.TargetFlow:
		if f, ok := e.flows.Flow(to.Value); ok {
			return f, nil
		}
		return nil, fmt.Errorf("transfer: no flow %q", to.Value)
	}
	return nil, unsupported("transfer to " + string(to.Kind))
}
