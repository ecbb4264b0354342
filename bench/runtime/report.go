package main

import (
	"fmt"
	"strings"
	"time"
)

// Figures and goals from issue 3, measured on the same kind of machine.
const (
	goalOneShotRatio = 1.5
	goalServing      = 60 * time.Millisecond
	reference        = "reference (issue 3, same kind of machine): one-shot runc ≈ 20, docker ≈ 310, podman ≈ 360 ms;" +
		" serving docker ≈ 230, podman ≈ 160, runc in a bare netns ≈ 33 ms"
)

func printTable(engines []*engine, cfg config) {
	by := map[string]*engine{}
	for _, e := range engines {
		by[e.name] = e
	}
	g, r := by["gantry"], by["runc"]
	fmt.Println()
	fmt.Printf("medians of %d runs, ms\n", cfg.runs)
	fmt.Printf("%-44s | %8s | %8s | %8s | %8s | %s\n", "scenario", "gantry", "runc", "docker", "podman", "gantry ÷ runc")
	row := func(title string, sample func(*engine) []time.Duration, skip func(*engine) string) {
		cells := make([]string, 0, 4)
		for _, e := range engines {
			if s := sample(e); len(s) > 0 && skip(e) == "" {
				cells = append(cells, ms(median(s)))
			} else {
				cells = append(cells, "—")
			}
		}
		ratio := "—"
		if gs, rs := sample(g), sample(r); len(gs) > 0 && len(rs) > 0 && skip(g) == "" && skip(r) == "" {
			ratio = fmt.Sprintf("%.2f", float64(median(gs))/float64(median(rs)))
		}
		fmt.Printf("%-44s | %8s | %8s | %8s | %8s | %s\n", title, cells[0], cells[1], cells[2], cells[3], ratio)
	}
	row("one-shot /bin/true", func(e *engine) []time.Duration { return e.oneShotSample },
		func(e *engine) string { return e.skipOneShot })
	row("start until HTTP 200", func(e *engine) []time.Duration { return e.serveSample },
		func(e *engine) string { return e.skipServe })

	fmt.Println()
	fmt.Println("what the rows measure:")
	fmt.Println("  one-shot, gantry: image.Store Mount (overlay) → runtime Run (own empty netns) → Wait → Delete → Unmount;")
	fmt.Println("    Run is one `runc run --detach` under the container's gantry-shim, as the agent starts a container;")
	fmt.Println("    runc: `runc run` of a bundle with the config.json Gantry writes (same seccomp, caps, masked paths, rlimits,")
	fmt.Println("    own netns) on a plain rootfs dir (create, start, wait and delete in one process, no mount);")
	fmt.Println("    docker / podman: `docker run --rm --network none` / `podman run --rm --network none` of the imported rootfs")
	fmt.Println("  start until HTTP 200 (busybox httpd -f -p 80, GET / polled every 1 ms, new connection each, ≤ 4 in flight):")
	fmt.Println("    gantry, as the agent starts a task: network Prepare (netns, ports) ∥ Mount, then Connect (CNI bridge gbench0")
	fmt.Println("      + host-local, then a DNAT rule 127.0.0.1:PORT → 80) ∥ Run (the process held before exec until Connect is")
	fmt.Println("      done) → first 200 from 127.0.0.1:PORT (DNAT); teardown not timed;")
	fmt.Println("    runc: foreground `runc run` in a namespace prepared beforehand (veth, no bridge), first 200 from the")
	fmt.Println("      container's own IP 10.213.242.2:80: nothing published, no network setup timed (the bare floor);")
	fmt.Println("    docker: `docker run -d -p 127.0.0.1:PORT:80` (bridge gbenchd0, --iptables=false: docker-proxy serves")
	fmt.Println("      127.0.0.1, as it does with docker's iptables rules) until the first 200 from 127.0.0.1:PORT;")
	fmt.Println("    podman: `podman run -d --network gbenchp -p 127.0.0.1:PORT:80` (CNI bridge + portmap DNAT) until the first 200")
	for _, e := range engines {
		for _, s := range []struct{ kind, why string }{{"one-shot", e.skipOneShot}, {"serving", e.skipServe}} {
			if s.why != "" {
				fmt.Printf("  %s %s: %s\n", e.name, s.kind, s.why)
			}
		}
	}

	fmt.Println()
	fmt.Println("gantry breakdown (medians, ms):")
	for _, kind := range []string{"oneshot", "serve"} {
		var parts []string
		for _, k := range g.phaseOrder {
			if name, ok := strings.CutPrefix(k, kind+"/"); ok {
				parts = append(parts, fmt.Sprintf("%s %s", name, ms(median(g.phases[k]))))
			}
		}
		fmt.Printf("  %-8s %s\n", kind+":", strings.Join(parts, ", "))
	}
	if len(g.phases["oneshot/run→exit"]) > 0 && len(r.oneShotSample) > 0 {
		fmt.Printf("  one-shot run→exit (no mount, no delete) ÷ runc run: %.2f\n",
			float64(median(g.phases["oneshot/run→exit"]))/float64(median(r.oneShotSample)))
	}
	fmt.Println()
	fmt.Println(reference)
	if len(g.oneShotSample) > 0 && len(r.oneShotSample) > 0 {
		ratio := float64(median(g.oneShotSample)) / float64(median(r.oneShotSample))
		fmt.Printf("goal: one-shot ≤ %.1f × raw runc: %.2f × — %s\n", goalOneShotRatio, ratio, verdict(ratio <= goalOneShotRatio))
	}
	if len(g.serveSample) > 0 {
		m := median(g.serveSample)
		fmt.Printf("goal: start-to-serving with a published port ≤ %d ms: %s ms — %s\n", goalServing.Milliseconds(), ms(m), verdict(m <= goalServing))
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
