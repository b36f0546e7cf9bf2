// Output-file builder: turns the stack object into kpb's multi-file output
// ({ 'setup/x': obj, 'y': obj } -> manifests/<env>/setup/x.yaml, manifests/<env>/y.yaml).
//
// Why generic: the seed listed components by hand and silently dropped the ones kube-prometheus
// added later (blackboxExporter, kubernetesControlPlane). Here every component in `prefixes`
// is emitted; objects whose kind must exist before the rest (CRDs, the Namespace, the
// StorageClass, the LimitRange) go under setup/ so they can be applied first (G4).
{
  // component field of the stack -> file-name prefix (the seed's prefixes, plus new ones).
  prefixes:: {
    kubePrometheus: 'kube-prometheus-',
    prometheusOperator: 'prometheus-operator-',
    nodeExporter: 'node-exporter-',
    kubeStateMetrics: 'kube-state-metrics-',
    alertmanager: 'alertmanager-',
    prometheus: 'prometheus-',
    prometheusAdapter: 'prometheus-adapter-',
    grafana: 'grafana-',
    blackboxExporter: 'blackbox-exporter-',
    kubernetesControlPlane: 'kubernetes-',
    ingress: 'ingress-',
    storageClass: 'storage-class-',
    common: 'common-',
  },

  setupKinds:: ['Namespace', 'CustomResourceDefinition', 'StorageClass', 'LimitRange'],

  // Hidden fields, nulls and empty objects are not manifests (e.g. a component's
  // `networkPolicy:: {}` or managed-cluster's `serviceMonitorKubeScheduler:: null`).
  isManifest(o):: std.isObject(o) && std.length(o) > 0,

  // The Namespace file sorts first in setup/ so that a plain `kubectl apply -f setup/` creates
  // it before the namespaced LimitRange (kube-prometheus names it the same way).
  fileName(prefix, field, o)::
    if o.kind == 'Namespace' then 'setup/0namespace-' + field
    else if std.member($.setupKinds, o.kind) then 'setup/' + prefix + field
    else prefix + field,

  // files(stack) -> { '<file name>': object } for every component listed in `prefixes`.
  files(stack, prefixes=$.prefixes)::
    local entries = [
      { name: $.fileName(prefixes[c], f, stack[c][f]), obj: stack[c][f] }
      for c in std.objectFields(prefixes)
      if std.objectHasAll(stack, c)
      for f in std.objectFields(stack[c])
      if $.isManifest(stack[c][f])
    ];
    local names = [e.name for e in entries];
    assert std.length(std.set(names)) == std.length(names) : 'duplicate output file names';
    { [e.name]: e.obj for e in entries },
}
