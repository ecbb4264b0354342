package agentconn

import "gantry/internal/ecs"

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
	ImagesPath = "/v1/images"      // GET list, POST ?ref= import, POST /load, GET /save, DELETE ?ref=
)

// ReportBatch is the body of a POST to ReportPath: the latest state of some tasks of one
// instance, each task at most once.
type ReportBatch struct {
	Tasks []*ecs.Task `json:"tasks"`
}

// ReportResults is the answer to a ReportBatch: one result per task, in order.
type ReportResults struct {
	Results []ReportResult `json:"results"`
}

// ReportResult is the server's answer to one task's report: Status 204 when taken, else
// the HTTP status its error maps to (4xx: resending cannot help) and a message.
type ReportResult struct {
	Status  int    `json:"status"`
	Message string `json:"message,omitempty"`
}

// MaxReportBatch is how many task states an agent sends in one report request.
const MaxReportBatch = 64

// LabelPublishAll is the container label (dockerLabels) with which `gantry run -P` asks
// the agent to publish every port the image exposes (EXPOSE) on a dynamic host port, as
// docker run -P does. ECS has no such field; without the label, exposed ports are the
// image's documentation only, as they are for docker run without -P.
const LabelPublishAll = "gantry.publish-all"

// InstanceParam names the container instance ARN in the query of agent requests.
const InstanceParam = "containerInstance"

// pingIntervalHeader tells the agent, in the tunnel's 101 answer, how often the server
// pings: a tunnel silent for a few intervals is dead, and the agent dials again.
const pingIntervalHeader = "Gantry-Ping-Interval"
