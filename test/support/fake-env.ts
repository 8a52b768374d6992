import type { FakeLlm } from '../fakes/llm-upstream.js';

export const DEEPSEEK_TEST_KEY = 'ds-test-upstream-key';
export const OPENAI_TEST_KEY = 'oa-test-upstream-key';
export const VLLM_TEST_KEY = 'vllm-test-upstream-key';

/** Environment pointing Bastion's providers at fake upstreams (short deadlines from the test models file). */
export function providerEnv(fakes: {
  deepseek?: FakeLlm;
  openai?: FakeLlm;
  vllm?: FakeLlm;
}): Record<string, string> {
  const env: Record<string, string> = { MODELS_CONFIG_PATH: 'test/fixtures/models.test.yaml' };
  if (fakes.deepseek) {
    env.DEEPSEEK_API_KEY = DEEPSEEK_TEST_KEY;
    env.DEEPSEEK_BASE_URL = fakes.deepseek.baseURL;
  }
  if (fakes.openai) {
    env.OPENAI_API_KEY = OPENAI_TEST_KEY;
    env.OPENAI_BASE_URL = fakes.openai.baseURL;
  }
  if (fakes.vllm) {
    env.BASTION_MODEL_URL = fakes.vllm.baseURL;
    env.BASTION_MODEL_API_KEY = VLLM_TEST_KEY;
    env.BASTION_MODEL_NAME = 'Qwen/Qwen2.5-Coder-32B-Instruct-AWQ';
  }
  return env;
}
