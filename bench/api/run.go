package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"gantry/internal/server"
)

// op sends one request as client number `client` (its i-th request) and reports failure.
type op func(client, i int) error

// result is one measurement.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
}

func run(duration time.Duration, levels []int) error {
	work, err := os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	gantry, err := startGantry(work)
	if err != nil {
		return err
	}
	defer gantry.stop()
	etcdAddr, stopEtcd, err := startEtcdPeer(work)
	if err != nil {
		return err
	}
	defer stopEtcd()

	fmt.Printf("Gantry API benchmark: %d cores, %s per measurement; peer: standalone etcd HTTP/JSON gateway\n", runtimeCPUs(), duration)
	fmt.Printf("%-24s %5s | %10s %8s %8s | %10s %8s %8s | %s\n", "operation", "conc", "gantry/s", "p50", "p99", "etcd/s", "p50", "p99", "gantry÷etcd")
	if err := gantry.call("CreateCluster", `{"clusterName": "bench"}`); err != nil {
		return err
	}
	pairs := []struct {
		name         string
		gantry, peer op
	}{
		{"DescribeClusters (read)", func(_, _ int) error {
			return gantry.call("DescribeClusters", `{"clusters": ["bench"]}`)
		}, func(_, _ int) error {
			return etcdCall(etcdAddr, "range", fmt.Sprintf(`{"key": %q, "serializable": true}`, b64("/gantry/ecs/clusters/bench")))
		}},
		{"RegisterTaskDefinition", func(client, _ int) error {
			return gantry.call("RegisterTaskDefinition", fmt.Sprintf(taskDefBody, client))
		}, func(client, i int) error {
			return etcdCall(etcdAddr, "put", fmt.Sprintf(`{"key": %q, "value": %q}`, b64(fmt.Sprintf("/f%d#%010d", client, i)), b64(taskDefBody)))
		}},
	}
	// Seed the peer with a record the size of a stored cluster.
	if err := etcdCall(etcdAddr, "put", fmt.Sprintf(`{"key": %q, "value": %q}`, b64("/gantry/ecs/clusters/bench"), b64(strings.Repeat("c", 400)))); err != nil {
		return err
	}
	for _, p := range pairs {
		for _, c := range levels {
			g := measure(p.gantry, c, duration)
			e := measure(p.peer, c, duration)
			fmt.Printf("%-24s %5d | %10.0f %8s %8s | %10.0f %8s %8s | %.2f\n", p.name, c,
				g.rps, ms(g.p50), ms(g.p99), e.rps, ms(e.p50), ms(e.p99), g.rps/e.rps)
			if g.errors+e.errors > 0 {
				return fmt.Errorf("%s at %d clients: %d gantry and %d etcd requests failed", p.name, c, g.errors, e.errors)
			}
		}
	}
	return nil
}

// taskDefBody is a typical small task definition; each client registers its own family,
// as independent teams would.
const taskDefBody = `{"family": "bench-%d", "containerDefinitions": [{"name": "web", "image": "127.0.0.1:8700/web:1",
 "memory": 128, "cpu": 256, "essential": true, "command": ["httpd", "-f", "-p", "8080"],
 "portMappings": [{"containerPort": 8080, "hostPort": 0}], "environment": [{"name": "MODE", "value": "prod"}]}]}`

// measure runs op from `clients` goroutines for d and summarises the latencies.
func measure(o op, clients int, d time.Duration) result {
	var wg sync.WaitGroup
	var failures atomic.Int64
	lat := make([][]time.Duration, clients)
	deadline := time.Now().Add(d)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if err := o(c, i); err != nil {
					if failures.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "bench: first failure:", err)
					}
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{
		rps:    float64(len(all)) / elapsed.Seconds(),
		p50:    all[len(all)/2],
		p99:    all[len(all)*99/100],
		errors: failures.Load(),
	}
}

// gantryProc is a gantry server started for the benchmark.
type gantryProc struct {
	cmd      *exec.Cmd
	endpoint string
	creds    aws.Credentials
	signer   *v4.Signer
	client   *http.Client
}

func startGantry(work string) (*gantryProc, error) {
	bin := filepath.Join(work, "gantry")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gantry")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building gantry (run from the repository root): %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(work, "gantry-data")
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", dataDir)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gantryProc{cmd: cmd, endpoint: "http://" + addr, signer: v4.NewSigner(), client: httpClient()}
	for range 300 {
		if resp, err := http.Get(g.endpoint + "/readyz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			key, err := server.ReadCredentials(filepath.Join(dataDir, "credentials"))
			g.creds = aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}
			return g, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	g.stop()
	return nil, fmt.Errorf("gantry server not ready after 30s")
}

func (g *gantryProc) stop() {
	g.cmd.Process.Signal(os.Interrupt)
	g.cmd.Wait()
}

// call sends one signed ECS request, as an SDK client would.
func (g *gantryProc) call(action, body string) error {
	req, _ := http.NewRequest(http.MethodPost, g.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+action)
	sum := sha256.Sum256([]byte(body))
	if err := g.signer.SignHTTP(context.Background(), g.creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		return err
	}
	return send(g.client, req)
}

func startEtcdPeer(work string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "etcd-peer", filepath.Join(work, "etcd-peer"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("etcd peer did not start: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

var etcdClient = httpClient()

func etcdCall(addr, verb, body string) error {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v3/kv/"+verb, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return send(etcdClient, req)
}

func send(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", req.URL, resp.StatusCode, bytes.TrimSpace(data))
	}
	return nil
}

func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
