import { resolve } from 'node:path';
import { loadCampaign, type Campaign } from '../config/campaign.js';
import { resolveCredentials } from '../config/env.js';
import { projectIdFor } from '../plan/fingerprint.js';
import type { LoadedCampaign } from '../pipeline/due.js';
import type { CliIo } from './io.js';

/** Loads a campaign (path relative to the working directory) and resolves its credentials; every failure is bad input (exit 2). */
export async function loadCampaignAndCredentials(path: string, io: CliIo): Promise<LoadedCampaign> {
  const campaign = await loadCampaign(resolve(io.cwd, path));
  const credentials = resolveCredentials(io.env, { apiKeyEnv: campaign.apiKeyEnv, apiSecretEnv: campaign.apiSecretEnv });
  return { campaign, credentials, projectId: projectIdFor(credentials.apiKey, credentials.baseUrl) };
}

/** Secrets to redact from anything printed for this campaign. */
export function secretsOf(io: CliIo, campaign?: Campaign): string[] {
  return [io.env.RK_API_SECRET, campaign?.apiSecretEnv ? io.env[campaign.apiSecretEnv] : undefined].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}
