//! The pod template messages a Deployment carries: pod spec, containers, ports, env, resources,
//! volume mounts (the fields `kubectl create deployment` and typed clients fill in).

use super::FieldKind::{
    Bool, Inline, Int, KeptBool, KeptInt, MessageList, QuantityMap, String, StringList, StringMap,
};
use super::{LOCAL_OBJECT_REFERENCE, Message, OBJECT_META, f, m};

pub(super) static POD_TEMPLATE_SPEC: Message = Message {
    name: "PodTemplateSpec",
    fields: &[f(1, "metadata", m(&OBJECT_META)), f(2, "spec", m(&POD_SPEC))],
};

static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        f(2, "containers", MessageList(&CONTAINER)),
        f(3, "restartPolicy", String),
        f(4, "terminationGracePeriodSeconds", KeptInt),
        f(5, "activeDeadlineSeconds", KeptInt),
        f(6, "dnsPolicy", String),
        f(7, "nodeSelector", StringMap),
        f(8, "serviceAccountName", String),
        f(9, "serviceAccount", String),
        f(10, "nodeName", String),
        f(11, "hostNetwork", Bool),
        f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool),
        f(15, "imagePullSecrets", MessageList(&LOCAL_OBJECT_REFERENCE)),
        f(16, "hostname", String),
        f(17, "subdomain", String),
        f(19, "schedulerName", String),
        f(20, "initContainers", MessageList(&CONTAINER)),
        f(21, "automountServiceAccountToken", KeptBool),
        f(24, "priorityClassName", String),
        f(25, "priority", KeptInt),
        f(29, "runtimeClassName", String),
        f(30, "enableServiceLinks", KeptBool),
    ],
};

static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        f(1, "name", String),
        f(2, "image", String),
        f(3, "command", StringList),
        f(4, "args", StringList),
        f(5, "workingDir", String),
        f(6, "ports", MessageList(&CONTAINER_PORT)),
        f(7, "env", MessageList(&ENV_VAR)),
        f(8, "resources", m(&RESOURCE_REQUIREMENTS)),
        f(9, "volumeMounts", MessageList(&VOLUME_MOUNT)),
        f(13, "terminationMessagePath", String),
        f(14, "imagePullPolicy", String),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        f(20, "terminationMessagePolicy", String),
    ],
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        f(1, "name", String),
        f(2, "hostPort", Int),
        f(3, "containerPort", KeptInt),
        f(4, "protocol", String),
        f(5, "hostIP", String),
    ],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[f(1, "name", String), f(2, "value", String), f(3, "valueFrom", m(&ENV_VAR_SOURCE))],
};

static ENV_VAR_SOURCE: Message = Message {
    name: "EnvVarSource",
    fields: &[
        f(1, "fieldRef", m(&OBJECT_FIELD_SELECTOR)),
        f(3, "configMapKeyRef", m(&KEY_SELECTOR)),
        f(4, "secretKeyRef", m(&KEY_SELECTOR)),
    ],
};

static OBJECT_FIELD_SELECTOR: Message =
    Message { name: "ObjectFieldSelector", fields: &[f(1, "apiVersion", String), f(2, "fieldPath", String)] };

static KEY_SELECTOR: Message = Message {
    name: "KeySelector",
    fields: &[f(1, "", Inline(&LOCAL_OBJECT_REFERENCE)), f(2, "key", String), f(3, "optional", KeptBool)],
};

static RESOURCE_REQUIREMENTS: Message = Message {
    name: "ResourceRequirements",
    fields: &[f(1, "limits", QuantityMap), f(2, "requests", QuantityMap)],
};

static VOLUME_MOUNT: Message = Message {
    name: "VolumeMount",
    fields: &[
        f(1, "name", String),
        f(2, "readOnly", Bool),
        f(3, "mountPath", String),
        f(4, "subPath", String),
        f(5, "mountPropagation", String),
        f(6, "subPathExpr", String),
        f(7, "recursiveReadOnly", String),
    ],
};
