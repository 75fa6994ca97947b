package sipptest

// Caller is a trunk call: INVITE with SDP pointing at [rtp_host]:[rtp_port]
// (a socket the test owns, or SIPp's own media port), then either hang up
// after Pause or wait for the engine's BYE. Digits are RFC 4733 pcaps sent
// from SIPp's media port after the answer, each followed by DigitGapMs.
type Caller struct {
	Formats    string // payload types in the m= line, e.g. "0 101"
	RTPMaps    string // extra a= lines
	Digits     []string
	DigitGapMs int
	PauseMs    int  // talk time before hanging up (caller hangs up)
	WaitBye    bool // the engine hangs up instead
	Body       bool // send SDP (false: a malformed body is in BadBody)
	BadBody    string
	Expect     int // a final non-2xx response expected instead of 200
	Auth       bool
	From       string // caller number; default [field0]-free "13800000001"
}

// CallerTemplate renders Caller.
const CallerTemplate = `{{define "from"}}From: "Caller" <sip:{{if .From}}{{.From}}{{else}}13800000001{{end}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]{{end}}<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]
{{if .Body}}
      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP {{.Formats}}
      a=rtpmap:0 PCMU/8000
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
{{.RTPMaps}}{{else}}
{{.BadBody}}{{end}}
    ]]>
  </send>
{{if .Auth}}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP {{.Formats}}
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
{{end}}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
{{if .Expect}}
  <recv response="{{.Expect}}"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{if .Auth}}2{{else}}1{{end}} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{{else}}
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{if .Auth}}2{{else}}1{{end}} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{{range .Digits}}
  <nop><action><exec play_pcap_audio="{{.}}"/></action></nop>
  <pause milliseconds="{{$.DigitGapMs}}"/>
{{end}}
{{if .WaitBye}}
` + answerBye + `{{else}}
  <pause milliseconds="{{.PauseMs}}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {{template "from" .}}
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{if .Auth}}3{{else}}2{{end}} BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
{{end}}
{{end}}
  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500"/>
</scenario>
`

// Register is a phone registering with digest auth; Contact points at the
// agent UAS SIPp ([contact_port]). Expires 0 unregisters.
type Register struct {
	User    string
	Expires int
	Expect  int // final response expected after the digest retry (default 200)
}

// RegisterTemplate renders Register.
const RegisterTemplate = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline register">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[remote_ip]>;tag=[pid]SIPpReg[call_number]
      To: <sip:{{.User}}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{{.User}}@[local_ip]:[contact_port]>
      Expires: {{.Expires}}
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[remote_ip]>;tag=[pid]SIPpReg[call_number]
      To: <sip:{{.User}}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{{.User}}@[local_ip]:[contact_port]>
      [authentication]
      Expires: {{.Expires}}
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="{{if .Expect}}{{.Expect}}{{else}}200{{end}}"/>
</scenario>
`

// Agent is an agent phone (UAS). It answers with SDP pointing at
// [rtp_port] (a test socket or SIPp's media port) after RingMs, then waits
// for BYE or hangs up itself after TalkMs. NoAnswer rings until CANCEL.
type Agent struct {
	RingMs   int
	TalkMs   int // >0: the agent hangs up first
	NoAnswer bool
	Busy     bool
	// AutoAnswerOnly answers only INVITEs asking for it (Call-Info
	// answer-after=0), as desk phones with auto-answer do; other INVITEs
	// ring until cancelled. The engine's BYE ends the answered call.
	AutoAnswerOnly bool
}

// AgentTemplate renders Agent.
const AgentTemplate = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline agent phone">
  <recv request="INVITE" crlf="true" rrs="true">{{if .TalkMs}}
    <action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/></action>{{end}}{{if .AutoAnswerOnly}}
    <action><ereg regexp="answer-after=0" search_in="hdr" header="Call-Info:" check_it="false" assign_to="aa"/></action>{{end}}
  </recv>{{if .AutoAnswerOnly}}
  <nop test="aa" next="answer"/>{{end}}
  <send>
    <![CDATA[
      SIP/2.0 {{if .Busy}}486 Busy Here{{else}}180 Ringing{{end}}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
{{if .Busy}}
  <recv request="ACK"/>
{{else if or .NoAnswer .AutoAnswerOnly}}
` + uasCancelled + `  <recv request="ACK"{{if .AutoAnswerOnly}} next="done"{{end}}/>
{{end}}
{{if not (or .Busy .NoAnswer)}}{{if .AutoAnswerOnly}}
  <label id="answer"/>{{end}}
  <pause milliseconds="{{.RingMs}}"/>
` + uasAnswer + `  <recv request="ACK" rtd="true" crlf="true"/>
{{if .TalkMs}}
  <pause milliseconds="{{.TalkMs}}"/>
` + uasBye + `{{else}}
` + answerBye + `{{end}}
{{end}}{{if .AutoAnswerOnly}}
  <label id="done"/>{{end}}
</scenario>
`

// answerBye receives the far end's BYE and answers 200 OK.
const answerBye = `  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
`

// CustomersTemplate is a trunk's far side full of customers: each call
// behaves by the last digit of the dialled number — 6 is busy (486), 7
// never answers (rings until CANCEL), 8 answers and hangs up at once,
// 9 answers and hangs up after HangupMs; any other digit answers after
// RingMs and talks until the engine's BYE. It renders Customers.
type Customers struct {
	RingMs   int
	HangupMs int // for numbers ending in 9 (default 1500)
}

// CustomersTemplate renders Customers.
const CustomersTemplate = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline customers">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="INVITE sip:[0-9]*6@" search_in="msg" check_it="false" assign_to="busy"/>
      <ereg regexp="INVITE sip:[0-9]*7@" search_in="msg" check_it="false" assign_to="noanswer"/>
      <ereg regexp="INVITE sip:[0-9]*8@" search_in="msg" check_it="false" assign_to="quick"/>
      <ereg regexp="INVITE sip:[0-9]*9@" search_in="msg" check_it="false" assign_to="later"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
    </action>
  </recv>
  <nop test="busy" next="busy"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <nop test="noanswer" next="noanswer"/>
  <pause milliseconds="{{.RingMs}}"/>
` + uasAnswer + `  <recv request="ACK" crlf="true"/>
  <nop test="quick" next="hangup"/>
  <nop test="later" next="talk"/>
` + answerBye + `  <nop next="end"/>
  <label id="talk"/>
  <pause milliseconds="{{if .HangupMs}}{{.HangupMs}}{{else}}1500{{end}}"/>
  <label id="hangup"/>
` + uasBye + `  <nop next="end"/>
  <label id="busy"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
  <nop next="end"/>
  <label id="noanswer"/>
` + uasCancelled + `  <recv request="ACK"/>
  <label id="end"/>
</scenario>
`

// The UAS scenarios' common steps: answer with SDP (PCMU and RFC 4733),
// a ringing INVITE cancelled (200 to the CANCEL, 487 to the INVITE), and a
// BYE of our own (the From captured into remote_from at the INVITE).
const uasAnswer = `  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtp_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
`

const uasCancelled = `  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0
    ]]>
  </send>
`

const uasBye = `  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To:[$remote_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
`
