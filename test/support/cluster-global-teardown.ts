import type { LocalRedisCluster } from './redis-cluster.js';

/** Jest global teardown of the "cluster" project: stops the cluster's servers and removes their directory. */
export default async function teardownCluster(): Promise<void> {
  const holder = globalThis as { bastionTestCluster?: LocalRedisCluster };
  await holder.bastionTestCluster?.stop();
  delete holder.bastionTestCluster;
  delete process.env.BASTION_TEST_CLUSTER_NODES;
}
