package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// client talks only to the address it is given: no proxy from the environment, no
// keep-alive (each attempt is a new connection, as a new client's would be).
var client = &http.Client{
	Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: time.Second}).DialContext,
	},
	Timeout: 2 * time.Second,
}

// waitServing starts a GET of url every millisecond, at most four in flight (a SYN to a
// namespace not wired yet may be dropped rather than refused), and returns when the
// first one gets 200, or after 20 s.
func waitServing(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ok := make(chan struct{}, 1)
	slots := make(chan struct{}, 4)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	attempt := func() {
		defer func() { <-slots }()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			select {
			case ok <- struct{}{}:
			default:
			}
		}
	}
	for {
		select {
		case slots <- struct{}{}:
			go attempt()
		default:
		}
		select {
		case <-ok:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("GET %s: no 200 within 20 s", url)
		case <-tick.C:
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
