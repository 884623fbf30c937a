// Package k8sschema decodes the Kubernetes manifests under configs/kubernetes strictly:
// the part of the Kubernetes API they use, written out as Go types with the API's field
// names, and decoded with unknown fields refused, so that a typo ("hostNetwrok",
// "capabilites") fails a test instead of being dropped by the API server's lenient
// decoding. It is not k8s.io/api: that module and its 17 dependencies (about 270
// packages) are a heavy price for checking three files; the types here were checked
// once against k8s.io/api v0.37.2 with sigs.k8s.io/yaml's UnmarshalStrict (see
// configs/kubernetes/README.md). A field not listed here is refused: add it when a
// manifest needs it, with the API's spelling and type.
package k8sschema

import (
	"fmt"
	"regexp"

	"gopkg.in/yaml.v3"
)

// TypeMeta and ObjectMeta are the parts of every object the manifests write.
type TypeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

// ObjectMeta is metadata.
type ObjectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Namespace is a v1 Namespace.
type Namespace struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta `yaml:"metadata"`
}

// ConfigMap is a v1 ConfigMap.
type ConfigMap struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

// DaemonSet is an apps/v1 DaemonSet.
type DaemonSet struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta    `yaml:"metadata"`
	Spec     DaemonSetSpec `yaml:"spec"`
}

// DaemonSetSpec is spec of a DaemonSet.
type DaemonSetSpec struct {
	Selector       LabelSelector   `yaml:"selector"`
	UpdateStrategy *UpdateStrategy `yaml:"updateStrategy"`
	Template       PodTemplate     `yaml:"template"`
}

// LabelSelector is a selector by labels.
type LabelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// UpdateStrategy is a DaemonSet's update strategy.
type UpdateStrategy struct {
	Type          string `yaml:"type"`
	RollingUpdate *struct {
		MaxUnavailable *IntOrString `yaml:"maxUnavailable"`
		MaxSurge       *IntOrString `yaml:"maxSurge"`
	} `yaml:"rollingUpdate"`
}

// PodTemplate is a pod template.
type PodTemplate struct {
	Metadata ObjectMeta `yaml:"metadata"`
	Spec     PodSpec    `yaml:"spec"`
}

// PodSpec is the part of a pod's spec the manifests use.
type PodSpec struct {
	HostNetwork                   bool                `yaml:"hostNetwork"`
	DNSPolicy                     string              `yaml:"dnsPolicy"`
	PriorityClassName             string              `yaml:"priorityClassName"`
	TerminationGracePeriodSeconds *int64              `yaml:"terminationGracePeriodSeconds"`
	NodeSelector                  map[string]string   `yaml:"nodeSelector"`
	Tolerations                   []Toleration        `yaml:"tolerations"`
	SecurityContext               *PodSecurityContext `yaml:"securityContext"`
	InitContainers                []Container         `yaml:"initContainers"`
	Containers                    []Container         `yaml:"containers"`
	Volumes                       []Volume            `yaml:"volumes"`
}

// Toleration is one toleration.
type Toleration struct {
	Key      string `yaml:"key"`
	Operator string `yaml:"operator"`
	Value    string `yaml:"value"`
	Effect   string `yaml:"effect"`
}

// PodSecurityContext is a pod's securityContext.
type PodSecurityContext struct {
	SeccompProfile *SeccompProfile `yaml:"seccompProfile"`
	RunAsUser      *int64          `yaml:"runAsUser"`
	RunAsGroup     *int64          `yaml:"runAsGroup"`
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
}

// SeccompProfile is a seccomp profile.
type SeccompProfile struct {
	Type string `yaml:"type"`
}

// Container is one container.
type Container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	ImagePullPolicy string           `yaml:"imagePullPolicy"`
	Command         []string         `yaml:"command"`
	Args            []string         `yaml:"args"`
	Env             []EnvVar         `yaml:"env"`
	Ports           []ContainerPort  `yaml:"ports"`
	SecurityContext *SecurityContext `yaml:"securityContext"`
	LivenessProbe   *Probe           `yaml:"livenessProbe"`
	ReadinessProbe  *Probe           `yaml:"readinessProbe"`
	Resources       *Resources       `yaml:"resources"`
	VolumeMounts    []VolumeMount    `yaml:"volumeMounts"`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

// ContainerPort is one declared port.
type ContainerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int32  `yaml:"containerPort"`
	HostPort      int32  `yaml:"hostPort"`
	Protocol      string `yaml:"protocol"`
}

// SecurityContext is a container's securityContext.
type SecurityContext struct {
	RunAsUser                *int64          `yaml:"runAsUser"`
	RunAsGroup               *int64          `yaml:"runAsGroup"`
	RunAsNonRoot             *bool           `yaml:"runAsNonRoot"`
	Privileged               *bool           `yaml:"privileged"`
	AllowPrivilegeEscalation *bool           `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool           `yaml:"readOnlyRootFilesystem"`
	SeccompProfile           *SeccompProfile `yaml:"seccompProfile"`
	Capabilities             *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

// Probe is a liveness or readiness probe.
type Probe struct {
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
	HTTPGet *struct {
		Host   string      `yaml:"host"`
		Path   string      `yaml:"path"`
		Port   IntOrString `yaml:"port"`
		Scheme string      `yaml:"scheme"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Host string      `yaml:"host"`
		Port IntOrString `yaml:"port"`
	} `yaml:"tcpSocket"`
	InitialDelaySeconds int32 `yaml:"initialDelaySeconds"`
	PeriodSeconds       int32 `yaml:"periodSeconds"`
	TimeoutSeconds      int32 `yaml:"timeoutSeconds"`
	SuccessThreshold    int32 `yaml:"successThreshold"`
	FailureThreshold    int32 `yaml:"failureThreshold"`
}

// Resources are requests and limits.
type Resources struct {
	Requests map[string]Quantity `yaml:"requests"`
	Limits   map[string]Quantity `yaml:"limits"`
}

// VolumeMount is one mount of a volume.
type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

// Volume is one volume: an emptyDir or a configMap.
type Volume struct {
	Name     string `yaml:"name"`
	EmptyDir *struct {
		Medium    string    `yaml:"medium"`
		SizeLimit *Quantity `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
	ConfigMap *struct {
		Name        string `yaml:"name"`
		DefaultMode *int32 `yaml:"defaultMode"`
		Items       []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"configMap"`
}

// IntOrString is a port or a count written as a number or a string ("http", "10%").
type IntOrString struct{ Value string }

// UnmarshalYAML accepts an integer or a string scalar, nothing else.
func (v *IntOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return fmt.Errorf("line %d: want an integer or a string, got %s", n.Line, n.Tag)
	}
	v.Value = n.Value
	return nil
}

// quantityRe is Kubernetes' resource quantity: a decimal number with an optional
// binary (Ki..Ei), decimal (m, k, M..E) or exponent suffix.
var quantityRe = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][+-]?[0-9]+)?$`)

// Quantity is a resource quantity ("100m", "128Mi", 1).
type Quantity struct{ Value string }

// UnmarshalYAML accepts what Kubernetes parses as a quantity.
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || !quantityRe.MatchString(n.Value) {
		return fmt.Errorf("line %d: %q is not a quantity (e.g. 100m, 128Mi)", n.Line, n.Value)
	}
	q.Value = n.Value
	return nil
}
