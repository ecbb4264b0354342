// Package agentconn is the wire between the server and its agents.
//
// An agent dials out to the server (nodes need no inbound port) and upgrades one HTTP
// request on ConnectPath to a tunnel. Over the tunnel the roles turn around: the server
// is the HTTP/2 client and the agent the HTTP/2 server, so the server can push task
// assignments, ping the agent (its heartbeat), and open streams to the node for logs and
// exec, all multiplexed on the one connection the agent opened. The agent reports task
// state with ordinary requests on ReportPath.
//
// The server side is Hub; the agent side is Serve and Client. Requests are signed with
// AWS SigV4 like every other API call.
package agentconn
