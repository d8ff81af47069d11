// Environment variables through which test/run.ts hands its control plane to every test process.
/** Admin kubeconfig of the run's control plane (its folder also holds cluster.json, certs and component logs). */
export const TEST_KUBECONFIG_ENV = 'SELFHEAL_TEST_KUBECONFIG';
/** CA certificate of the run's control plane. */
export const TEST_CA_ENV = 'SELFHEAL_TEST_CA';
