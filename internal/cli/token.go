package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

func newTokenCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create join tokens for machines that join with 'gantry agent'",
	}
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a single-use join token",
		Long: `Create a join token. A machine redeems it once with 'gantry agent --token' for a
client certificate of the cluster CA and an access key. The token carries the hash of
the cluster CA, so the joining machine trusts only this cluster's servers.

Example:
  gantry token create --ttl 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := g.native(cmd.Context(), "POST", "/gantry/v1/tokens", url.Values{"ttl": {ttl.String()}}, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var out struct {
				Token   string    `json:"token"`
				Expires time.Time `json:"expires"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				return err
			}
			if g.output == "json" {
				return json.NewEncoder(g.out).Encode(out)
			}
			fmt.Fprintln(g.out, out.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "valid once, until %s; on the machine to join:\n  gantry agent --server https://SERVER:PORT --token %s\n(the server must run with --agent-listen)\n",
				out.Expires.Local().Format(time.RFC1123), out.Token)
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token stays valid")
	cmd.AddCommand(create)
	return cmd
}
