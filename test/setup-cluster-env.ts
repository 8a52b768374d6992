/** Setup file of the "cluster" jest project: the tests of this file run against the local Redis Cluster. */
process.env.BASTION_TEST_STORE = 'cluster';
