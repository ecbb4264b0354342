package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/spf13/cobra"

	"gantry/internal/agentconn"
)

// imageSummary is one image of a node's local store, as the images endpoint lists it.
type imageSummary struct {
	Ref     string    `json:"ref"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// nodeTarget names the instance whose image store a command works on.
type nodeTarget struct {
	cluster  string
	instance string
}

func (n *nodeTarget) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.instance, "instance", "", "container instance whose images to use: ARN, id, id prefix or node name (default: the only connected one)")
	cmd.Flags().StringVar(&n.cluster, "cluster", "default", "cluster of --instance, to find it by id or name")
}

// query returns the instance= parameter: an ARN as given, an id or node name turned
// into the ARN the server knows the agent's tunnel by.
func (n *nodeTarget) query(ctx context.Context, g *globals) (url.Values, error) {
	q := url.Values{}
	if n.instance == "" {
		return q, nil
	}
	if strings.HasPrefix(n.instance, "arn:") {
		q.Set("instance", n.instance)
		return q, nil
	}
	client, err := g.ecsClient(ctx)
	if err != nil {
		return nil, err
	}
	listed, _, err := listInstances(ctx, client, n.cluster, &ecs.ListContainerInstancesInput{Cluster: aws.String(n.cluster)})
	if err != nil {
		return nil, err
	}
	switch arns := matchInstance(listed, n.instance); len(arns) {
	case 1:
		q.Set("instance", arns[0])
		return q, nil
	case 0:
		return nil, fmt.Errorf("no container instance named or with id %q in cluster %s (list them with 'gantry instance ls --cluster %s')", n.instance, n.cluster, n.cluster)
	default:
		return nil, fmt.Errorf("%q matches %d container instances in cluster %s; use the INSTANCE ID 'gantry instance ls' shows", n.instance, len(arns), n.cluster)
	}
}

// nodeImages calls an images endpoint and decodes the summaries it answers with.
func (g *globals) nodeImages(ctx context.Context, method, path string, q url.Values, body io.Reader) ([]imageSummary, error) {
	resp, err := g.native(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []imageSummary
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("reading the image list the server sent: %w", err)
	}
	return out, nil
}

func newImageCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image",
		Aliases: []string{"img"},
		Short:   "Import, load, list and remove the images stored on a machine (like docker image)",
		Long: `Work on the image store of one machine (container instance): import a root
filesystem, load a 'docker save' archive, list and remove images. Tasks on that machine
can then use these images without a registry.

With one machine connected to the server there is nothing to choose; otherwise pass
--instance (see 'gantry instance ls').`,
	}
	cmd.AddCommand(imageImport(g), imageLoad(g), imageSave(g), imageList(g), imageRemove(g))
	return cmd
}

// newImagesCommand is `gantry images`, short for `gantry image ls`.
func newImagesCommand(g *globals) *cobra.Command {
	cmd := imageList(g)
	cmd.Use, cmd.Aliases = "images", nil
	cmd.Short = "List the images stored on a machine (same as 'gantry image ls')"
	cmd.Example = `  gantry images
  gantry images --instance node-2 -o json`
	return cmd
}

// newRmiCommand is `gantry rmi`, short for `gantry image rm`.
func newRmiCommand(g *globals) *cobra.Command {
	cmd := imageRemove(g)
	cmd.Use, cmd.Aliases = "rmi REF...", nil
	cmd.Short = "Remove images from a machine's store (same as 'gantry image rm')"
	cmd.Example = `  gantry rmi busybox:latest`
	return cmd
}

func imageImport(g *globals) *cobra.Command {
	var node nodeTarget
	cmd := &cobra.Command{
		Use:   "import ROOTFS.tar|- NAME[:TAG]",
		Short: "Create an image from a root filesystem tarball (like docker import)",
		Long: `Create a single-layer image from a tarball of a root filesystem (plain, gzip or
zstd) and store it on a machine under NAME[:TAG] (TAG defaults to latest). With "-"
the tarball is read from standard input. The image has no command: give one in the
task definition. The image's digest is printed; -o json prints its summary.`,
		Example: `  gantry image import rootfs.tar busybox:1.36
  tar -C rootfs -c . | gantry image import - tools:dev --instance node-2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("%s needs a tarball (or - for standard input) and a NAME[:TAG]; got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			src, total, closeSrc, err := openArchive(args[0], "import ROOTFS.tar NAME")
			if err != nil {
				return err
			}
			defer closeSrc()
			q, err := node.query(cmd.Context(), g)
			if err != nil {
				return err
			}
			q.Set("ref", args[1])
			body, stop := sendProgress(cmd.ErrOrStderr(), src, total)
			imgs, err := g.nodeImages(cmd.Context(), http.MethodPost, agentconn.NodeImages, q, body)
			stop()
			if err != nil {
				return fmt.Errorf("importing %s as %s: %w", args[0], args[1], err)
			}
			if g.output == "json" {
				return printJSON(g.out, imgs)
			}
			for _, img := range imgs {
				fmt.Fprintln(g.out, img.Digest)
			}
			return nil
		},
	}
	node.addFlags(cmd)
	return cmd
}

func imageLoad(g *globals) *cobra.Command {
	var node nodeTarget
	var input string
	cmd := &cobra.Command{
		Use:   "load [-i ARCHIVE]",
		Short: "Load images from a 'docker save' or OCI layout archive (like docker load)",
		Long: `Load the images of a tar archive made by 'docker save', 'podman save' or an OCI
image layout (plain or compressed) into a machine's store, from -i ARCHIVE or standard
input. Each image is printed as "Loaded image: REF" (or "Loaded image ID: DIGEST" when
the archive does not name it); -o json prints their summaries.`,
		Example: `  gantry image load -i busybox.tar
  docker save nginx:1.27 | gantry image load --instance node-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, total, closeSrc, err := openArchive(input, "load -i ARCHIVE")
			if err != nil {
				return err
			}
			defer closeSrc()
			q, err := node.query(cmd.Context(), g)
			if err != nil {
				return err
			}
			body, stop := sendProgress(cmd.ErrOrStderr(), src, total)
			imgs, err := g.nodeImages(cmd.Context(), http.MethodPost, agentconn.NodeImages+"/load", q, body)
			stop()
			if err != nil {
				return fmt.Errorf("loading images: %w", err)
			}
			if g.output == "json" {
				return printJSON(g.out, imgs)
			}
			for _, img := range imgs {
				if img.Ref == "" {
					fmt.Fprintln(g.out, "Loaded image ID: "+img.Digest)
				} else {
					fmt.Fprintln(g.out, "Loaded image: "+img.Ref)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "-", "archive to load; - reads standard input")
	node.addFlags(cmd)
	return cmd
}

func imageSave(g *globals) *cobra.Command {
	var node nodeTarget
	var output string
	cmd := &cobra.Command{
		Use:   "save [-o ARCHIVE] REF...",
		Short: "Write images to a 'docker save' archive (like docker save)",
		Long: `Write images of a machine's store to a tar archive in 'docker save' format, which
'gantry image load', 'docker load' and 'podman load' read: to -o ARCHIVE, or to standard
output when it is not a terminal.`,
		Example: `  gantry image save -o web.tar web:v1
  gantry image save web:v1 busybox:latest | ssh other-host docker load`,
		Args: atLeastOne("REF (list them with 'gantry images')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "-" && isTerminalWriter(g.out) {
				return errors.New("standard output is a terminal, not a file: pass -o ARCHIVE or redirect it")
			}
			q, err := node.query(cmd.Context(), g)
			if err != nil {
				return err
			}
			q["ref"] = args
			resp, err := g.native(cmd.Context(), http.MethodGet, agentconn.NodeImages+"/save", q, nil)
			if err != nil {
				return fmt.Errorf("saving images: %w", err)
			}
			defer resp.Body.Close()
			if output == "-" {
				_, err = io.Copy(g.out, resp.Body)
				return err
			}
			return writeArchive(output, resp.Body)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "-", "archive to write; - writes standard output")
	node.addFlags(cmd)
	return cmd
}

// writeArchive writes r to path through a temporary file beside it, so that a failed
// save leaves no partial archive under that name.
func writeArchive(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}

func imageList(g *globals) *cobra.Command {
	var node nodeTarget
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images stored on a machine",
		Long: `List the images of a machine's store, one line per name (an image with two names
shows twice). DIGEST is the start of the manifest digest; -o json prints the full one.`,
		Example: `  gantry image ls
  gantry image ls --instance node-2 -o json | jq -r '.[].ref'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := node.query(cmd.Context(), g)
			if err != nil {
				return err
			}
			imgs, err := g.nodeImages(cmd.Context(), http.MethodGet, agentconn.NodeImages, q, nil)
			if err != nil {
				return fmt.Errorf("listing images: %w", err)
			}
			if g.output == "json" {
				return printJSON(g.out, imgs)
			}
			now := time.Now()
			t := newTable(g.out, "REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE")
			for _, img := range imgs {
				repo, tag := splitRef(img.Ref)
				created := "-"
				if !img.Created.IsZero() {
					created = humanDuration(now.Sub(img.Created)) + " ago"
				}
				t.row(repo, tag, shortDigest(img.Digest), created, humanBytes(img.Size))
			}
			return t.flush()
		},
	}
	node.addFlags(cmd)
	return cmd
}

func imageRemove(g *globals) *cobra.Command {
	var node nodeTarget
	cmd := &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove images from a machine's store",
		Long: `Remove image names from a machine's store; a manifest digest (sha256:...) removes
every name of that image. Its layers and blobs are deleted at once unless another image
or a container on that machine still uses them (a running task keeps its image's
layers until it stops), as docker rmi does.`,
		Example: `  gantry image rm busybox:latest
  gantry image rm --instance node-2 sha256:3f9c2a...`,
		Args: atLeastOne("REF (list them with 'gantry images')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := node.query(cmd.Context(), g)
			if err != nil {
				return err
			}
			for _, ref := range args {
				q.Set("ref", ref)
				resp, err := g.native(cmd.Context(), http.MethodDelete, agentconn.NodeImages, q, nil)
				if err != nil {
					if strings.Contains(err.Error(), "not found") {
						return fmt.Errorf("%w (list the images with 'gantry images')", err)
					}
					return err
				}
				resp.Body.Close()
				fmt.Fprintln(g.out, "Untagged: "+ref)
			}
			return nil
		},
	}
	node.addFlags(cmd)
	return cmd
}

// openArchive opens path, or standard input for "-", and returns its size when known.
// usage is the command line to suggest when standard input is a terminal.
func openArchive(path, usage string) (io.Reader, int64, func(), error) {
	if path == "-" {
		if isTerminal(os.Stdin) {
			return nil, 0, nil, fmt.Errorf("standard input is a terminal, not an archive: pipe one in or run 'gantry image %s'", usage)
		}
		return os.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// sendProgress wraps r so that, when w is a terminal, the bytes read from it so far are
// shown about once a second, and a final line once all is read (the machine may then take
// a while to store the image). stop ends the display; quick uploads show nothing.
func sendProgress(w io.Writer, r io.Reader, total int64) (io.Reader, func()) {
	if !isTerminalWriter(w) {
		return r, func() {}
	}
	cr := &countingReader{r: r, start: time.Now()}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		shown, ended := false, false
		end := func() {
			fmt.Fprintf(w, "\r\x1b[KSent %s in %s\n", humanBytes(cr.n.Load()), cr.elapsed().Round(100*time.Millisecond))
			ended = true
		}
		for {
			select {
			case <-tick.C:
				switch {
				case ended:
				case cr.eof.Load():
					end()
				default:
					fmt.Fprint(w, "\r\x1b[K"+progressLine(cr.n.Load(), total, cr.elapsed()))
					shown = true
				}
			case <-done:
				if shown && !ended {
					end()
				}
				return
			}
		}
	})
	return cr, func() {
		close(done)
		wg.Wait()
	}
}

// progressLine words how much of an upload is sent: "Sending 12.0MiB of 40.0MiB (30%)".
func progressLine(sent, total int64, elapsed time.Duration) string {
	line := "Sending " + humanBytes(sent)
	if total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", humanBytes(total), sent*100/total)
	}
	if s := elapsed.Seconds(); s >= 1 {
		line += fmt.Sprintf(", %s/s", humanBytes(int64(float64(sent)/s)))
	}
	return line
}

// countingReader counts the bytes read through it and notes when it reached the end.
type countingReader struct {
	r     io.Reader
	start time.Time
	n     atomic.Int64
	eof   atomic.Bool
	took  atomic.Int64 // nanoseconds from start to the end of r
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF && !c.eof.Load() {
		c.took.Store(int64(time.Since(c.start)))
		c.eof.Store(true)
	}
	return n, err
}

// elapsed is the time spent reading so far, or in all once the end was reached.
func (c *countingReader) elapsed() time.Duration {
	if c.eof.Load() {
		return time.Duration(c.took.Load())
	}
	return time.Since(c.start)
}

// splitRef splits a stored reference into the REPOSITORY and TAG columns; a reference
// by digest, or none, has the tag "<none>" as in docker images.
func splitRef(ref string) (repo, tag string) {
	if ref == "" {
		return "<none>", "<none>"
	}
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		return ref[:at], "<none>"
	}
	if colon := strings.LastIndexByte(ref, ':'); colon > strings.LastIndexByte(ref, '/') {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "<none>"
}

// shortDigest keeps the algorithm and the first 12 hex digits: sha256:3f9c2a1b4d5e.
func shortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}
