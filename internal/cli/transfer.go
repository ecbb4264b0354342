package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"gantry/internal/agentconn"
)

// transferEvent is one line of a pull's or push's progress stream.
type transferEvent struct {
	Digest  string        `json:"Digest"`
	Current int64         `json:"Current"`
	Total   int64         `json:"Total"`
	Status  string        `json:"Status"`
	Image   *imageSummary `json:"image"`
	Error   string        `json:"error"`
}

func newPullCommand(g *globals) *cobra.Command {
	var node nodeTarget
	cmd := &cobra.Command{
		Use:   "pull IMAGE",
		Short: "Pull an image into a machine's image store, like docker pull",
		Long: `Pull IMAGE from its registry into the image store of a machine (container
instance), so that tasks there start without pulling. Gantry's own registry is reached
with the machine's credentials; other loopback registries over plain HTTP.

Example:
  gantry pull 127.0.0.1:8700/web:1.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transfer(cmd.Context(), g, &node, "pull", args[0], "")
		},
	}
	node.addFlags(cmd)
	return cmd
}

func newPushCommand(g *globals) *cobra.Command {
	var node nodeTarget
	cmd := &cobra.Command{
		Use:   "push IMAGE [DESTINATION]",
		Short: "Push an image from a machine's image store to a registry, like docker push",
		Long: `Push IMAGE from the image store of a machine (container instance) to the registry
its name points at, or to DESTINATION (as 'docker tag' then 'docker push' would).
Layers the registry has already are not sent again.

Examples:
  gantry push 127.0.0.1:8700/web:1.2
  gantry push busybox:local 127.0.0.1:8700/tools/busybox:1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := ""
			if len(args) == 2 {
				dest = args[1]
			}
			return transfer(cmd.Context(), g, &node, "push", args[0], dest)
		},
	}
	node.addFlags(cmd)
	return cmd
}

// transfer runs a pull or push on the node and shows its progress.
func transfer(ctx context.Context, g *globals, node *nodeTarget, verb, ref, dest string) error {
	q, err := node.query(ctx, g)
	if err != nil {
		return err
	}
	q.Set("ref", ref)
	if dest != "" {
		q.Set("dest", dest)
	}
	resp, err := g.native(ctx, "POST", agentconn.NodeImages+"/"+verb, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bar := newTransferBar(os.Stderr, verb, cmp.Or(dest, ref))
	img, err := followTransfer(resp.Body, bar.update)
	bar.finish(err == nil)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return json.NewEncoder(g.out).Encode(img)
	}
	fmt.Fprintf(g.out, "%s: %s\n", cmp.Or(dest, img.Ref), img.Digest)
	return nil
}

// followTransfer reads a progress stream, passing each event to show, and returns the
// image its last line names.
func followTransfer(r io.Reader, show func(transferEvent)) (*imageSummary, error) {
	dec := json.NewDecoder(r)
	for {
		var ev transferEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the machine ended the transfer without a result; see the agent's log")
			}
			return nil, err
		}
		switch {
		case ev.Error != "":
			return nil, errors.New(ev.Error)
		case ev.Image != nil:
			return ev.Image, nil
		default:
			show(ev)
		}
	}
}

// transferBar shows a transfer's progress: one line redrawn in place on a terminal,
// one line per finished layer otherwise.
type transferBar struct {
	w        io.Writer
	terminal bool
	label    string
	layers   map[string]transferEvent
	shown    bool
}

func newTransferBar(w io.Writer, verb, ref string) *transferBar {
	label := map[string]string{"pull": "Pulling", "push": "Pushing"}[verb] + " " + ref
	return &transferBar{w: w, terminal: isTerminalWriter(w), label: label, layers: map[string]transferEvent{}}
}

func (b *transferBar) update(ev transferEvent) {
	prev, seen := b.layers[ev.Digest]
	b.layers[ev.Digest] = ev
	if !b.terminal {
		if ev.Digest != "" && (ev.Status == "done" || ev.Status == "exists") && (!seen || prev.Status != ev.Status) {
			fmt.Fprintf(b.w, "%s: %s %s\n", shortDigest(ev.Digest), ev.Status, humanBytes(ev.Total))
		}
		return
	}
	fmt.Fprint(b.w, "\r\x1b[K"+b.line())
	b.shown = true
}

// line words the progress: "Pulling web:1: 2/3 layers, 12.0MiB of 40.0MiB [=====     ]".
func (b *transferBar) line() string {
	var cur, total int64
	done := 0
	keys := make([]string, 0, len(b.layers))
	for k := range b.layers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev := b.layers[k]
		cur, total = cur+ev.Current, total+ev.Total
		if ev.Status == "done" || ev.Status == "exists" {
			done++
		}
	}
	line := b.label + ": "
	if len(keys) > 1 || keys[0] != "" {
		line += fmt.Sprintf("%d/%d layers, ", done, len(keys))
	}
	line += humanBytes(cur)
	if total > 0 {
		const width = 20
		filled := int(min(cur, total) * width / total)
		line += fmt.Sprintf(" of %s [%s%s]", humanBytes(total), strings.Repeat("=", filled), strings.Repeat(" ", width-filled))
	}
	return line
}

func (b *transferBar) finish(ok bool) {
	if b.shown {
		if ok {
			fmt.Fprint(b.w, "\r\x1b[K"+b.line()+"\n")
		} else {
			fmt.Fprintln(b.w)
		}
	}
}
