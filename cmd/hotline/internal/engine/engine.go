// Package engine wires Hotline's parts into one running call centre: the SIP
// server, the IVR interpreter, the ACD, the customer store and the HTTP side
// (health, metrics, desktop). It owns every long-running goroutine and stops
// them in order when its context ends.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/guard"
	"github.com/hotlinecc/hotline/sip/webrtc"
)

// Engine is one running Hotline node.
type Engine struct {
	cfg     *config.Config
	log     *slog.Logger
	sip     *sip.Server
	ports   *media.PortAllocator
	acd     *acd.ACD
	flows   *ivr.Registry
	crm     *crm.Resolver
	prompts *callctl.PromptCache
	ctl     *callctl.Control
	bus     *acd.Bus
	metrics *metrics
	httpLn  net.Listener
	httpSrv *http.Server
	// plan is the current configuration's derived settings; a reload
	// swaps it (reload.go). cfg stays the start-up configuration.
	plan atomic.Pointer[plan]
	pres *callctl.Presence

	records  *records
	crmJobs  []func(context.Context) error
	api      *agentapi.Server
	recDir   string
	recorder *recording.Recorder
	cluster  *cluster // nil on a single node (store: memory)
	// campaigns is the outbound dialler (campaigns.go); nil without
	// campaigns.
	campaigns *campaigns
	// webrtc makes the browser phones' legs (browserphone.go).
	webrtc *webrtc.Endpoint
	// The edge (edge.go): guard, credentials, HTTPS certificates.
	guard       *guard.Guard
	creds       map[string]credential
	basicCache  *verifyCache
	httpCerts   *httpCerts
	httpRefused atomic.Int64

	ready chan struct{}
	done  chan struct{} // closed when Run returns
	drain *drain

	// OnCallEnd, if set before Run, receives every finished call
	// (tests). It must not block.
	OnCallEnd func(CallEnd)
	// ConfigPath is the file Reload reads; empty (an engine built from a
	// configuration in memory) reloads the flows only.
	ConfigPath string
	reloadMu   sync.Mutex
}

// CallEnd describes a finished call.
type CallEnd = callctl.End

// New builds an engine from a validated configuration and binds its
// listeners (so ":0" ports are known before Run).
func New(cfg *config.Config, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{cfg: cfg, log: log, ready: make(chan struct{}), done: make(chan struct{}), drain: newDrain()}
	p, err := newPlan(cfg)
	if err != nil {
		return nil, err
	}
	e.plan.Store(p)
	e.metrics = newMetrics()

	lo, hi, err := cfg.RTPRange()
	if err != nil {
		return nil, fmt.Errorf("engine: sip.rtp_ports: %w", err)
	}
	if e.ports, err = media.NewPortAllocator(lo, hi); err != nil {
		return nil, fmt.Errorf("engine: rtp ports: %w", err)
	}
	if err := e.setupMedia(); err != nil {
		return nil, err
	}

	// Flows and prompts: validated before anything listens, so a bad flow
	// stops start-up with file, line and node.
	promptRoot := cfg.Resolve(cfg.Prompts)
	e.prompts = callctl.NewPromptCache()
	e.flows = ivr.NewRegistry(p.flowOpts)
	if err := e.flows.LoadDirLanguages(cfg.Resolve(cfg.Flows), cfg.AccessNumbers, cfg.AccessLanguages); err != nil {
		return nil, fmt.Errorf("engine: flows: %w", err)
	}

	if err := e.buildEdge(); err != nil {
		return nil, err
	}
	if err := e.buildCluster(); err != nil {
		return nil, err
	}
	if err := e.buildCRM(); err != nil {
		return nil, err
	}
	if err := e.buildRecords(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(e.stateDir(), 0o700); err != nil {
		// Not fatal: nothing survives the next restart, and the log says so.
		log.Error("state directory unusable; registrations and sessions will not survive a restart", "dir", e.stateDir(), "err", err)
	}
	recDir := cfg.Resolve(cfg.Recording.Dir)
	if recDir == "" {
		recDir = filepath.Join(os.TempDir(), "hotline-recordings")
	}
	if err := os.MkdirAll(recDir, 0o755); err != nil {
		// Not fatal: recordings fail and are flagged, calls go on.
		log.Error("recording directory unusable; calls will be marked recording-failed", "dir", recDir, "err", err)
	}
	if fixed, err := recording.Repair(recDir); err != nil {
		log.Warn("recording repair", "dir", recDir, "err", err)
	} else if len(fixed) > 0 {
		log.Warn("recordings repaired after an unclean stop", "count", len(fixed), "files", fixed)
	}
	e.recDir = recDir
	e.recorder = recording.NewRecorder(recording.Config{
		Root: recDir, Retention: cfg.Recording.Retention.D(), Logger: log,
		Options: recording.Options{Mono: cfg.Recording.Mono, OnFailure: func(callID string, err error) {
			e.metrics.recordingFailures.Inc()
			log.Error("recording failed; the call goes on", "call", callID, "err", err)
		}},
	})
	// The bus exists before the ACD so the record tracker, which call
	// control needs, can subscribe before the ACD (which needs call
	// control as its phone) is built.
	e.bus = acd.NewBus(0)
	e.startTracker()
	if err := e.buildCallControl(promptRoot); err != nil {
		return nil, err
	}
	if err := e.buildACD(); err != nil {
		return nil, err
	}
	e.clusterMetrics()
	if err := e.buildCampaigns(); err != nil {
		return nil, err
	}
	if err := e.buildAPI(); err != nil {
		return nil, err
	}

	mediaIP, err := netip.ParseAddr(cfg.SIP.MediaIP)
	if err != nil {
		return nil, fmt.Errorf("engine: sip.media_ip: %w", err)
	}
	var codecs []media.Codec
	for _, name := range cfg.SIP.Codecs {
		if c, ok := media.CodecByName(strings.ToUpper(name)); ok {
			codecs = append(codecs, c)
		}
	}
	var dir sip.Directory
	var node string
	if e.cluster != nil {
		dir, node = e.cluster.regs, e.cluster.store.Node()
	}
	sipCfg := sip.Config{
		UDPAddr: cfg.SIP.UDP, TCPAddr: cfg.SIP.TCP, Realm: cfg.SIP.Realm, MediaIP: mediaIP, Ports: e.ports,
		Codecs: codecs, Logger: log, Node: node, Directory: dir, MinSE: cfg.SIP.MinSessionExpires.D(),
	}
	e.sipSecurity(&sipCfg) // guard, TLS, latching, SRTP, trunks and credentials of the plan (edge.go)
	e.sip, err = sip.NewServer(sipCfg, e.ctl)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.ctl.Wire(e.sip, e.acd)
	e.metrics.registerHealth(e)
	e.metrics.zeroLabels(p)
	e.zeroFlows()
	e.pres = &callctl.Presence{ACD: e.acd, Registered: e.sip.Registrar().Registered, Desktop: e.api.HasDesktop, Agents: p.phone, Log: e.log}
	e.restoreState()
	if cfg.HTTP.Listen != "" {
		if e.httpLn, err = e.listenHTTP(); err != nil {
			return nil, err
		}
	}
	if err := e.buildWebRTC(mediaIP, codecs); err != nil {
		if e.httpLn != nil {
			_ = e.httpLn.Close()
		}
		return nil, err
	}
	return e, nil
}

func (e *Engine) buildCRM() error {
	store := e.customerStore()
	var tiers []string
	for _, t := range e.cfg.Tiers {
		tiers = append(tiers, t.Name)
	}
	if len(tiers) == 0 {
		tiers = []string{"normal"}
	}
	c := e.cfg.CRM
	plan := crm.NumberPlan{CountryCode: c.CountryCode}
	im, err := crm.NewImporter(store, crm.ImportConfig{Tiers: tiers, Plan: plan, Logger: e.log})
	if err != nil {
		return fmt.Errorf("engine: crm: %w", err)
	}
	if c.File != "" {
		path := e.cfg.Resolve(c.File)
		rep, err := im.ImportFile(context.Background(), path, crm.FullLoad)
		if err != nil {
			return fmt.Errorf("engine: crm.file %s: %w", path, err)
		}
		e.log.Info("customer store loaded", "file", path, "loaded", rep.Loaded, "rejected", rep.RejectedCount)
		for _, r := range rep.Rejects {
			e.log.Warn("customer row rejected", "file", path, "reject", fmt.Sprintf("%+v", r))
		}
		if c.Watch > 0 {
			w, err := im.WatchFile(path, c.Watch.D(), func(rep crm.Report, err error) {
				if err != nil {
					e.log.Error("customer file reload failed; the old set stays", "file", path, "err", err)
					return
				}
				e.log.Info("customer file reloaded", "file", path, "loaded", rep.Loaded, "rejected", rep.RejectedCount)
			})
			if err != nil {
				return fmt.Errorf("engine: crm.watch: %w", err)
			}
			e.crmJobs = append(e.crmJobs, w.Run)
		}
	}
	if c.Pull.URL != "" {
		p, err := crm.NewPuller(im, crm.PullConfig{URLTemplate: c.Pull.URL, AuthHeader: c.Pull.AuthHeader, AuthValue: c.Pull.AuthValue,
			Interval: c.Pull.Interval.D(), Timeout: c.Pull.Timeout.D(), OnPull: func(rep crm.Report, err error) {
				if err != nil {
					e.log.Error("CRM pull failed; the old set stays", "err", err)
					return
				}
				e.log.Info("CRM pulled", "loaded", rep.Loaded, "rejected", rep.RejectedCount)
			}})
		if err != nil {
			return fmt.Errorf("engine: crm.pull: %w", err)
		}
		e.crmJobs = append(e.crmJobs, p.Run)
	}
	var live crm.Lookup
	if c.Live.URL != "" {
		l, err := crm.NewLive(crm.LiveConfig{URLTemplate: c.Live.URL, AuthHeader: c.Live.AuthHeader, AuthValue: c.Live.AuthValue,
			Timeout: c.Live.Timeout.D(), FailureThreshold: c.Live.FailureThreshold, CoolDown: c.Live.CoolDown.D(),
			Cache: store, Tiers: tiers, Plan: plan, Logger: e.log})
		if err != nil {
			return fmt.Errorf("engine: crm.live: %w", err)
		}
		live = l
	}
	var regions *crm.PrefixTable
	if len(c.Regions) > 0 {
		if regions, err = crm.NewPrefixTable(c.Regions); err != nil {
			return fmt.Errorf("engine: crm.regions: %w", err)
		}
	}
	e.crm, err = crm.NewResolver(crm.ResolverConfig{
		Store: store, Live: live, Regions: regions, Deadline: c.LookupTimeout.D(), DefaultTier: "normal", Plan: plan, Logger: e.log,
		Observe: func(ev crm.LookupEvent) {
			e.metrics.crmLatency.Observe(ev.Duration.Seconds())
			if ev.Degraded {
				e.metrics.crmFailures.Inc()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("engine: crm: %w", err)
	}
	return nil
}

func (e *Engine) buildACD() error {
	st := e.plan.Load().acd
	a, err := acd.New(acd.Config{
		Routing: st.Routing, RingTimeout: st.RingTimeout, WrapUp: st.WrapUp, Queues: st.Queues,
		BreakReasons: st.BreakReasons, AdjustWarn: st.AdjustWarn, Logger: e.log,
		ObserveDecision: e.metrics.call.observeDecision(),
	}, e.acdDeps())
	if err != nil {
		return fmt.Errorf("engine: acd: %w", err)
	}
	e.acd = a
	e.metrics.reg.MustRegister(newACDCollector(e))
	return nil
}

func (e *Engine) acdDeps() acd.Deps {
	d := acd.Deps{Phone: e.ctl, Bus: e.bus, Log: cdr.AgentStateLog{W: e.records.states}}
	if e.cluster != nil {
		d.Store, d.Cluster = e.cluster.link.Store(), e.cluster.link
	}
	// Queued callbacks outlive a restart: the ACD's store keeps a journal
	// of them (a file, or this node's hash in Redis).
	d.Store = e.ctl.JournalCallbacks(d.Store, e.callbackStore())
	return d
}

// SIPAddr is the bound SIP UDP address.
func (e *Engine) SIPAddr() string { return e.sip.UDPAddr() }

// HTTPAddr is the bound HTTP address ("" when disabled).
func (e *Engine) HTTPAddr() string {
	if e.httpLn == nil {
		return ""
	}
	return e.httpLn.Addr().String()
}

// SIP exposes the signalling server (registrar, stats) to tests and the API.
func (e *Engine) SIP() *sip.Server { return e.sip }

// ACD exposes the ACD.
func (e *Engine) ACD() *acd.ACD { return e.acd }

// Ready is closed once every listener serves.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Done is closed when Run has returned.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Run serves until ctx ends (or Stop), then stops gracefully: new calls
// are refused, the calls in progress get shutdown.grace to end (Abort cuts
// it short), the rest are ended, the ACD and HTTP stop, the records drain,
// and Run returns.
func (e *Engine) Run(parent context.Context) error {
	// The parts run until the calls are gone, not until parent ends: parent
	// only starts the stop.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	defer close(e.done)
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.acd.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("acd: %w", err)
		}
	}()
	if n, err := e.ctl.RestoreCallbacks(ctx); err != nil {
		e.log.Error("some callbacks could not be restored", "restored", n, "err", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.sip.Run(ctx); err != nil {
			errc <- err
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.pres.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.runState(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.ctl.RunChecker(ctx, integrityEvery, integrityRecordGrace)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.runCluster(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.watchACD(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.runCampaigns(ctx)
	}()
	for _, job := range e.crmJobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := job(ctx); err != nil && !errors.Is(err, context.Canceled) {
				e.log.Error("customer data refresh stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.api.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("agent API", "err", err)
		}
	}()
	stopRecords := e.records.run(ctx, e.log)
	recCtx, stopRec := context.WithCancel(context.Background())
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		if err := e.recorder.Run(recCtx); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("recorder", "err", err)
		}
	}()
	if e.httpLn != nil {
		e.httpSrv = e.newHTTPServer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.httpSrv.Serve(e.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	close(e.ready)
	e.log.Info("hotline serving", "sip_udp", e.sip.UDPAddr(), "sip_tcp", e.sip.TCPAddr(), "sip_tls", e.sip.TLSAddr(), "http", e.HTTPAddr(), "https", e.httpCerts != nil, "webrtc", e.webrtc.Addr().String())
	err := e.waitStop(parent, errc)
	acdClosed := false
	if err == nil {
		err = e.shutdownCalls(errc)
		// No call is left: the ACD's rings stop (and are waited for)
		// before the SIP server waits for its last legs. Pending callbacks
		// stay in its store (and their journal) for the next start.
		acdClosed = true
		if cerr := e.acd.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("acd close: %w", cerr)
		}
	}
	cancel()
	if e.httpSrv != nil {
		shutCtx, stop := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.httpSrv.Shutdown(shutCtx)
		stop()
	}
	wg.Wait()
	e.saveState()
	e.ctl.Close()
	e.webrtc.Close()
	_ = e.api.Close()
	// Calls are gone: close their recordings, then stop the flusher.
	e.recorder.Close()
	stopRec()
	<-recDone
	if !acdClosed {
		if cerr := e.acd.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("acd close: %w", cerr)
		}
	}
	// Every call has ended: write the open records, then drain the logs.
	stopRecords()
	e.closeCluster()
	return err
}

// ExtractDemo writes the embedded demo tree to a temporary directory so the
// loaders, which read real files, can use it. The caller removes the dir.
func ExtractDemo(fsys fs.FS) (string, error) {
	dir, err := os.MkdirTemp("", "hotline-demo-")
	if err != nil {
		return "", fmt.Errorf("extract demo: %w", err)
	}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("extract demo: %w", err)
	}
	return dir, nil
}

// metrics are the engine's Prometheus collectors, on their own registry so
// tests can run several engines in one process.
type metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec
	active       prometheus.GaugeFunc
	digitLatency prometheus.Histogram
	crmLatency   prometheus.Histogram
	crmFailures  prometheus.Counter

	recordingFailures prometheus.Counter
	recordsLost       *prometheus.CounterVec // health.go
	integrity         *prometheus.CounterVec
	rtpTimeouts       prometheus.Counter

	call *callMetrics
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_calls_total", Help: "Calls ended, by the disposition of their call record."}, []string{"disposition"})
	m.digitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hotline_ivr_digit_to_prompt_seconds", Help: "Time from a caller's digit to the first packet of the next prompt.",
		Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 3},
	})
	m.crmLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hotline_crm_lookup_seconds", Help: "Customer lookup latency.", Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .3, 1},
	})
	m.crmFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_crm_lookup_failures_total", Help: "Lookups that fell back to the default tier."})
	m.recordingFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_recording_failures_total", Help: "Recordings that failed (disk full, unwritable directory); their calls went on."})
	m.integrity = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_integrity_violations_total",
		Help: "Broken call invariants found at run time (stuck agent, leg without a call, double booking, missing or duplicate record, illegal transition)."}, []string{"kind"})
	for _, k := range []string{callctl.KindAgentWithoutCall, callctl.KindLegWithoutCall, callctl.KindAgentInTwoCalls, callctl.KindRecordMissing, callctl.KindRecordTwice, "illegal_transition"} {
		m.integrity.WithLabelValues(k)
	}
	m.rtpTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_timeouts_total",
		Help: "Legs hung up because their phone stopped sending RTP (vanished without a BYE)."})
	m.call = newCallMetrics(m.reg)
	m.recordsLost = newRecordsLost()
	m.reg.MustRegister(m.integrity, m.rtpTimeouts, m.recordingFailures, m.calls, m.digitLatency, m.crmLatency, m.crmFailures,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
