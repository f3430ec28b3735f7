/**
 * Server data the wizard shows but the machine never holds: in the real app these come from
 * Connect-Query (listSmes, listAudiences); the machine only stores the chosen ids.
 */
export interface Option {
  id: string;
  name: string;
}

export const SMES: readonly Option[] = [
  { id: 'sme_ada', name: 'Ada Lovelace (compilers)' },
  { id: 'sme_grace', name: 'Grace Hopper (languages)' },
  { id: 'sme_ken', name: 'Ken Thompson (systems)' },
];

export const AUDIENCES: readonly Option[] = [
  { id: 'aud_backend', name: 'Backend engineers' },
  { id: 'aud_sre', name: 'Site reliability engineers' },
  { id: 'aud_students', name: 'Students' },
];
