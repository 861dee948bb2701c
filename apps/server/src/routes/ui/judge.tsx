/** @jsxImportSource hono/jsx */
/** The console's pages for the judge: a pasted or uploaded chain judged as nginx would. */
import { Hono } from 'hono';
import { JudgeInputError, toPem } from '@anvil/pki';
import { requirePermission, type UiEnv } from '../../middleware/session.ts';
import { EMPTY_JUDGE_FORM, JudgePage, type JudgeFormValues } from '../../views/judge-pages.tsx';
import { JudgeInputProblem, parseExpectName, pemBlocksOf } from '../judge/input.ts';
import { forbiddenPage, formText, formUploads, page, type UiContext } from './render.tsx';
import type { UiDeps } from './index.ts';

/** The API's limits (JudgeBodySchema in routes/judge/pasted.ts), so both doors accept the same input. */
const LIMITS = { chain: 256 * 1024, trustAnchors: 256 * 1024, crls: 16 * 1024 * 1024 };

/**
 * The paste, then every uploaded file, as one PEM text: a PEM file as it is, any other file as
 * DER of `label`. The API's PEM parsing then reads it, so the verdict is the API's.
 */
async function pemWithUploads(c: UiContext, text: string, files: string, label: 'CERTIFICATE' | 'X509 CRL'): Promise<string> {
  const parts = [formText(c, text).trim()];
  for (const f of formUploads(c, files)) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    const latin1 = Buffer.from(bytes).toString('latin1');
    parts.push(latin1.includes('-----BEGIN') ? latin1.trim() : toPem(bytes, label).trim());
  }
  const joined = parts.filter(Boolean).join('\n');
  return joined ? `${joined}\n` : '';
}

export function judgePages(deps: UiDeps) {
  const { judge } = deps;
  const app = new Hono<UiEnv>();
  app.use(
    '*',
    requirePermission('judge', (c) => forbiddenPage(c, 'Your role may not use the judge.')),
  );

  app.get('/', (c) => page(c, 'Judge', <JudgePage csrf={c.get('csrf')} values={EMPTY_JUDGE_FORM} />, { section: '/judge' }));

  app.post('/', async (c) => {
    const values: JudgeFormValues = {
      chain: await pemWithUploads(c, 'chain', 'chainFile', 'CERTIFICATE'),
      crls: await pemWithUploads(c, 'crls', 'crlFiles', 'X509 CRL'),
      purpose: formText(c, 'purpose') === 'server' ? 'server' : 'client',
      trust: formText(c, 'trust') === 'pasted' ? 'pasted' : 'anvil',
      trustAnchors: formText(c, 'trustAnchors').trim(),
      expectName: formText(c, 'expectName').trim(),
    };
    const refused = (field: string, message: string) =>
      page(
        c,
        'Judge',
        <JudgePage
          csrf={c.get('csrf')}
          values={values}
          errors={{ [field]: message }}
          message="Nothing was judged: correct the field marked below."
        />,
        {
          section: '/judge',
          status: 422,
        },
      );

    for (const field of ['chain', 'trustAnchors', 'crls'] as const) {
      if (values[field].length > LIMITS[field]) return refused(field, `At most ${LIMITS[field] / 1024} KiB.`);
    }
    // Field by field, so a refusal is shown beside the field it concerns; the same parsing as POST /api/v1/judge.
    let field = 'chain';
    try {
      // Nothing pasted is nothing presented: absent / NONE, as the API and GET /verify answer.
      const chain = values.chain.trim() === '' ? [] : pemBlocksOf(values.chain, 'chain', 'chain');
      field = 'trustAnchors';
      const trustAnchors = values.trust === 'pasted' ? pemBlocksOf(values.trustAnchors, 'trustAnchors', 'trust_anchors') : undefined;
      field = 'crls';
      const crls = values.crls ? pemBlocksOf(values.crls, 'crls', 'crls', 'crl') : undefined;
      field = 'expectName';
      const expectName = values.expectName ? parseExpectName(values.expectName) : undefined;
      field = 'chain';
      const verdict = await judge.judge(chain, { trustAnchors, crls, expectName, purpose: values.purpose, revocation: 'auto' });
      return page(c, `Judge — ${verdict.status}`, <JudgePage csrf={c.get('csrf')} values={values} verdict={verdict} />, {
        section: '/judge',
      });
    } catch (e) {
      if (e instanceof JudgeInputProblem) return refused(field, e.message);
      if (e instanceof JudgeInputError) {
        return refused(e.code === 'malformed_anchor' ? 'trustAnchors' : e.code === 'malformed_crl' ? 'crls' : 'chain', e.message);
      }
      throw e;
    }
  });

  return app;
}
