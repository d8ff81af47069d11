// The parts of @kubernetes/client-node the actions use, imported by name so that a bundle carries only these and what
// they need (about half of the client: less to load, compile and keep in memory at every cold start). kube.ts loads
// this module lazily, at the first createKube, so a function that never acts on the cluster never loads the client.
export { AppsV1Api, AuthenticationV1Api, CoreV1Api, KubeConfig, Observable } from '@kubernetes/client-node';
