// Shapes and sizes in the style of kube-prometheus: CRDs with big schemas, dashboards as JSON
// strings in ConfigMaps, many small workload objects.
local schema(depth, width) =
  if depth == 0 then { type: 'string', description: 'A leaf field. Lorem ipsum dolor sit amet. Lorem ipsum dolor sit amet. Lorem ipsum.' }
  else {
    type: 'object',
    description: 'Object at depth ' + depth + ' with ' + width + ' properties.',
    properties: { ['field' + i]: schema(depth - 1, width) for i in std.range(1, width) },
  };
local crd(i) = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'thing%02d.example.com' % i, annotations: { 'controller-gen.kubebuilder.io/version': 'v0.16.1' } },
  spec: { group: 'example.com', names: { kind: 'Thing%02d' % i, plural: 'thing%02ds' % i }, scope: 'Namespaced',
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema(4, 5) } }] },
};
local panel(i) = { id: i, type: 'timeseries', title: 'Panel %d' % i, gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: i * 8 },
                   targets: [{ expr: 'sum(rate(http_requests_total{job="x",code=~"5.."}[5m])) by (instance) / %d' % i, refId: 'A' }] };
local dashboard(i) = {
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'grafana-dashboard-%02d' % i, namespace: 'monitoring' },
  data: { ['dash-%02d.json' % i]: std.manifestJsonEx({ title: 'Dashboard %d' % i, uid: 'd%02d' % i,
                                                       panels: [panel(p) for p in std.range(1, 60)] }, '    ') },
};
local workload(i) = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'app-%02d' % i, namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'app-%02d' % i } },
  spec: { replicas: 2, selector: { matchLabels: { app: 'app-%02d' % i } },
          template: { metadata: { labels: { app: 'app-%02d' % i } },
                      spec: { containers: [{ name: 'main', image: 'quay.io/example/app:v1.%d.0' % i,
                                             args: ['--web.listen-address=:8080', '--log.level=info'],
                                             ports: [{ containerPort: 8080, name: 'http' }],
                                             resources: { limits: { cpu: '100m', memory: '128Mi' } } }] } } },
};
{
  objects(n):: (
    local k = std.max(1, std.floor(n / 5));
    { ['setup/crd-%02d' % i]: crd(i) for i in std.range(1, k) }
    + { ['dashboard-%02d' % i]: dashboard(i) for i in std.range(1, k) }
    + { ['workload-%02d' % i]: workload(i) for i in std.range(1, n - 2 * k) }
  ),
}
