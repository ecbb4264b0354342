package agentconn

// Protocol is the Upgrade token of the tunnel.
const Protocol = "gantry-agent/1"

// Paths on the server's listener.
const (
	ConnectPath = "/gantry/v1/agent/connect"
	ReportPath  = "/gantry/v1/agent/report"
)

// Paths the agent serves over the tunnel.
const (
	AssignPath = "/v1/assignments" // POST an ecs.AssignmentUpdate
	TaskPath   = "/v1/tasks/"      // + {taskID}/logs (GET) and {taskID}/exec (POST)
	ImagesPath = "/v1/images"      // GET list, POST ?ref= import, POST /load, DELETE ?ref=
)

// InstanceParam names the container instance ARN in the query of agent requests.
const InstanceParam = "containerInstance"

// pingIntervalHeader tells the agent, in the tunnel's 101 answer, how often the server
// pings: a tunnel silent for a few intervals is dead, and the agent dials again.
const pingIntervalHeader = "Gantry-Ping-Interval"
