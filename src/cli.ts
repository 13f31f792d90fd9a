/** Process entry of bin/cpi. */
import { main } from './main';

void main(process.argv.slice(2), process.env);
