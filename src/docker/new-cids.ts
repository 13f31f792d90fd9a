/**
 * New cloud IDs. Kept apart from cids.ts: uuid loads node's crypto, which only the calls that
 * create something should pay for.
 */
import { v4 as uuid } from 'uuid';
import { STEMCELL_REPO } from './cids';

export const newVmCid = (): string => `c-${uuid()}`;
export const newDiskCid = (): string => `vol-${uuid()}`;
export const newSnapshotCid = (): string => `snap-${uuid()}`;
export const newStemcellCid = (): string => `${STEMCELL_REPO}:img-${uuid()}`;
