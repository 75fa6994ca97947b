module github.com/hotlinecc/hotline

go 1.25.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/coder/websocket v1.8.15
	github.com/emiago/diago v0.31.0
	github.com/emiago/dtls/v3 v3.0.0-20260122183559-8b8d23e359c0
	github.com/emiago/sipgo v1.7.2
	github.com/go-audio/riff v1.0.0
	github.com/gobwas/httphead v0.1.0
	github.com/gobwas/pool v0.2.1
	github.com/gobwas/ws v1.4.0
	github.com/google/uuid v1.6.0
	github.com/icholy/digest v1.2.0
	github.com/pion/logging v0.2.4
	github.com/pion/randutil v0.1.0
	github.com/pion/rtcp v1.2.15
	github.com/pion/rtp v1.10.6
	github.com/pion/srtp/v3 v3.0.6
	github.com/pion/transport/v3 v3.1.1
	github.com/pion/transport/v4 v4.0.1
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
	github.com/zaf/g711 v1.4.0
	go.uber.org/atomic v1.12.0
	golang.org/x/crypto v0.32.0
	golang.org/x/sync v0.16.0
	golang.org/x/sys v0.48.0
	gopkg.in/hraban/opus.v2 v2.0.0-20230925203106-0188a62cb302
	gopkg.in/yaml.v3 v3.0.1
)
